import Foundation
import Testing
import TollgateCore

/// AWS Bedrock: the recorded Converse and ConverseStream responses and the hand-made InvokeModel ones read as their
/// case.json expects, whole and split at any byte; the model comes from the path; event streams with bad CRCs,
/// truncated frames, exceptions or garbage end in a clear note, never a crash, with the usage read before the fault.
@Suite("Bedrock")
struct BedrockTests {
    static let recorded = RecordedCase.all.filter { $0.api.family == .bedrock }
    static let handmade = ["bedrock-invoke-json-basic", "bedrock-invoke-stream-basic"].map(RecordedCase.handmade)
    static let cases = recorded + handmade

    // MARK: - Fixtures

    @Test("the bedrock-* recordings were copied; the hand-made Invoke cases load")
    func fixtureSet() {
        #expect(Self.recorded.map(\.id) == ["bedrock-converse-json-cache-read", "bedrock-converse-json-nova", "bedrock-converse-stream-gpt-oss"])
        #expect(Self.handmade.map(\.api) == [.bedrockInvoke, .bedrockInvokeStream])
        #expect(Self.cases.allSatisfy { !$0.body.isEmpty && $0.status == 200 })
    }

    @Test("usage, served model, raw usage and content events match expected", arguments: Self.cases)
    func readsExpectedUsage(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        #expect(request.stream == recorded.stream)
        #expect(request.rewrittenBody == nil, "Bedrock bodies are signed and forwarded as they are")
        #expect(request.model == BedrockFormat.modelID(inPath: recorded.requestPath))
        #expect(request.model?.contains("%") == false)
        let meter = recorded.meter(for: request)
        #expect(!meter.rewrites)
        let run = meter.run(recorded.body)
        let reading = run.reading
        #expect(reading.servedModel == recorded.expected.model)
        #expect(TokenClasses(reading.usage) == recorded.expected.classes)
        #expect(reading.completed)
        #expect(reading.note == nil)
        #expect(run.clientBytes == recorded.body)
        let raw = try #require(reading.rawUsage)
        #expect(parseJSONObject(Array(utf8: raw)) != nil && !raw.contains("\n"))
        if recorded.api == .bedrockInvokeStream {
            #expect(raw == #"{"output_tokens":11}"#, "the last message_delta's usage, inside the base64 chunk")
        } else {
            #expect(JSONEdit.compacted(Array(recorded.body.text.utf8)).text.contains(raw))
        }
        #expect((reading.contentEvents > 0) == recorded.stream)
    }

    @Test("the recorded ConverseStream: contentBlockDelta events counted, the served model is the path's")
    func recordedConverseStream() throws {
        let recorded = RecordedCase.named("bedrock-converse-stream-gpt-oss")
        let reading = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        #expect(reading.contentEvents == 3)
        #expect(reading.servedModel == "openai.gpt-oss-120b-1:0")
        #expect(reading.rawUsage == #"{"inputTokens":66,"outputTokens":45,"serverToolUsage":{},"totalTokens":111}"#)
    }

    @Test("the hand-made InvokeModelWithResponseStream bytes are what this suite's generator builds from the events")
    func handmadeStreamBytes() {
        #expect(Self.handmade[1].body == invokeStream(handmadeEvents))
    }

    // MARK: - Requests

    @Test(
        "the model is the path's id, percent-decoded; stream by API; the output limit by the body's dialect",
        arguments: [
            (APIName.bedrockConverse, "/model/us.amazon.nova-pro-v1%3A0/converse", "us.amazon.nova-pro-v1:0", false, 512),
            (.bedrockConverseStream, "/model/openai.gpt-oss-120b-1%3a0/converse-stream", "openai.gpt-oss-120b-1:0", true, 512),
            (.bedrockInvoke, "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke", "anthropic.claude-3-haiku-20240307-v1:0", false, 64),
            (
                .bedrockInvokeStream,
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc/invoke-with-response-stream",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", true, 64
            ),
            (
                .bedrockConverse, "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x/converse",
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x", false, 512
            ),
            (.bedrockConverse, "/model/bad%zzescape%E2%82%AC/converse", "bad%zzescape€", false, 512),
        ] as [(APIName, String, String, Bool, Int)])
    func request(api: APIName, path: String, model: String, stream: Bool, limit: Int) throws {
        let body = Array(utf8: #"{"inferenceConfig":{"maxTokens":512},"max_tokens":64,"messages":[]}"#)
        let prepared = try api.wireFormat.prepare(
            body: body, options: RequestOptions(acceptsStreamUsageOption: true, upstreamModel: "ignored-alias", path: path))
        #expect(prepared.model == model)
        #expect(prepared.stream == stream)
        #expect(prepared.maxOutputTokens == limit)
        #expect(prepared.rewrittenBody == nil && !prepared.injectedStreamUsage, "no alias can apply: the model is in the path")
    }

    @Test("InvokeModel of a model whose body has no usage (Llama) is metered from Bedrock's token-count headers")
    func invokeHeaderCounts() throws {
        let format = APIName.bedrockInvoke.wireFormat
        let request = try format.prepare(
            body: Array(#"{"prompt":"Hi","max_gen_len":64}"#.utf8),
            options: RequestOptions(acceptsStreamUsageOption: false, path: "/model/meta.llama3-3-70b-instruct-v1%3A0/invoke"))
        let headers = [
            "x-amzn-bedrock-input-token-count": "12", "x-amzn-bedrock-output-token-count": "5",
            "x-amzn-bedrock-cache-read-input-token-count": "not a number",
        ]
        let body = Array(#"{"generation":"Hello!","prompt_token_count":12,"generation_token_count":5,"stop_reason":"stop"}"#.utf8)
        let reading = format.makeReader(for: request, contentType: "application/json") { headers[$0] }.run(body).reading
        #expect(reading.usage == TokenUsage(inputTokens: 12, outputTokens: 5))
        #expect(reading.rawUsage == #"{"inputTokenCount":12,"outputTokenCount":5}"#)
        #expect(reading.servedModel == "meta.llama3-3-70b-instruct-v1:0")
        #expect(reading.completed)

        // An Anthropic body's own usage wins over the headers; without headers nothing changes.
        let anthropic = RecordedCase.handmade("bedrock-invoke-json-basic")
        let anthropicRequest = try anthropic.prepare()
        let withHeaders = format.makeReader(for: anthropicRequest, contentType: "application/json") { headers[$0] }.run(anthropic.body)
        #expect(TokenClasses(withHeaders.reading.usage) == anthropic.expected.classes)
        let withoutHeaders = format.makeReader(for: request, contentType: "application/json") { _ in nil }.run(body).reading
        #expect(withoutHeaders.usage == nil)
    }

    @Test("a path without a model id gives no model; a missing limit gives none, a limit that is not a whole number is refused")
    func requestWithoutModel() throws {
        let format = APIName.bedrockConverse.wireFormat
        for path in ["", "/converse", "/model/converse", "/model//converse"] {
            let prepared = try format.prepare(body: Array(utf8: "{}"), options: RequestOptions(acceptsStreamUsageOption: true, path: path))
            #expect(prepared.model == nil, "path \(path)")
        }
        let prepared = try format.prepare(body: Array(utf8: #"{"inferenceConfig":{}}"#), options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(prepared.maxOutputTokens == nil)
        for body in [#"{"inferenceConfig":{"maxTokens":"5"}}"#, #"{"inferenceConfig":{"maxTokens":1.5}}"#] {
            #expect(throws: RequestError.invalidField("inferenceConfig.maxTokens", "must be a whole number"), "body \(body)") {
                try format.prepare(body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true))
            }
        }
    }

    @Test(
        "bodies that are not one JSON object are refused",
        arguments: [
            ("", RequestError.invalidJSON("the body is empty")), ("  ", .invalidJSON("the body is empty")),
            ("[]", .invalidJSON("expected a JSON object")), (#"{"messages":["#, .invalidJSON("the object is not well-formed or is cut short")),
            ("{} {}", .invalidJSON("the object is not well-formed or is cut short")),
        ])
    func invalidBodies(body: String, error: RequestError) {
        for api in [APIName.bedrockConverse, .bedrockInvokeStream] {
            #expect(throws: error) {
                try api.wireFormat.prepare(
                    body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true, path: "/model/m/converse"))
            }
        }
    }

    // MARK: - Converse bodies

    @Test("Converse: every class, the 1-hour part of the writes from cacheDetails, the service tier")
    func converseClasses() {
        let body = Array(
            utf8: #"{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","#
                + #""usage":{"inputTokens":12,"outputTokens":90,"totalTokens":4402,"cacheReadInputTokens":4000,"#
                + #""cacheWriteInputTokens":300,"cacheDetails":[{"ttl":"1h","inputTokens":200},{"ttl":"5m","inputTokens":100}]},"#
                + #""metrics":{"latencyMs":900},"serviceTier":{"type":"priority"}}"#)
        let run = converseReader().run(body)
        #expect(
            run.reading.usage == TokenUsage(inputTokens: 12, cacheReadTokens: 4000, cacheWriteTokens: 300, cacheWrite1hTokens: 200, outputTokens: 90))
        #expect(run.reading.servedModel == "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        #expect(run.reading.serviceTier == "priority")
        #expect(run.reading.completed && run.reading.note == nil)
        expectSplitInvariant(body, equals: run) { converseReader() }
    }

    @Test(
        "Converse usage: only whole numbers count; no counts reads as no usage",
        arguments: [
            (#"{"inputTokens":5,"outputTokens":"7"}"#, TokenUsage(inputTokens: 5)),
            (#"{"inputTokens":5.0,"outputTokens":-1,"totalTokens":9}"#, nil),
            (#"{"inputTokens":null,"outputTokens":3,"cacheDetails":"1h"}"#, TokenUsage(outputTokens: 3)),
            (
                #"{"inputTokens":1,"cacheWriteInputTokens":5,"cacheDetails":[{"ttl":"1h","inputTokens":9},7]}"#,
                TokenUsage(inputTokens: 1, cacheWriteTokens: 5, cacheWrite1hTokens: 5)
            ),
            ("{}", nil),
        ] as [(String, TokenUsage?)])
    func converseUsage(usage: String, expected: TokenUsage?) {
        #expect(BedrockUsage.canonical(Array(utf8: usage), shape: .converse) == expected)
    }

    @Test("an error body reads as complete, without usage or model; a cut body is noted")
    func converseErrorBody() {
        let body = Array(utf8: #"{"message":"The provided model identifier is invalid."}"#)
        let reading = converseReader().run(body).reading
        #expect(reading.completed && reading.note == nil)
        #expect(reading.usage == nil && reading.rawUsage == nil && reading.servedModel == nil)
        let cut = converseReader().run([RecordedCase.named("bedrock-converse-json-nova").body.dropLast()]).reading
        #expect(!cut.completed && cut.note != nil)
    }

    @Test("an error answered as JSON on a streaming route is read as JSON")
    func streamRouteErrorBody() {
        let meter = APIName.bedrockConverseStream.wireFormat.makeReader(
            for: PreparedRequest(model: "m", stream: true), contentType: "application/json")
        let reading = meter.run(Array(utf8: #"{"message":"Too many requests, please wait before trying again."}"#)).reading
        #expect(reading.completed && reading.note == nil && reading.usage == nil)
    }

    // MARK: - ConverseStream faults

    @Test("a ConverseStream cut anywhere: never a crash; complete and without note only when whole; usage once metadata is")
    func converseStreamCutAnywhere() {
        let recorded = RecordedCase.named("bedrock-converse-stream-gpt-oss")
        let metadataStart = recorded.body.count - 235
        for length in 0...recorded.body.count {
            let reading = converseStreamReader().run([recorded.body[..<length]]).reading
            #expect(reading.completed == (length == recorded.body.count), "cut at \(length)")
            #expect((reading.note == nil) == (length == recorded.body.count), "cut at \(length)")
            #expect((reading.usage != nil) == (length == recorded.body.count), "cut at \(length)")
            if length > metadataStart, length < recorded.body.count {
                #expect(reading.note?.contains("truncated") == true, "cut at \(length): \(reading.note ?? "")")
            }
        }
        let beforeMetadata = converseStreamReader().run([recorded.body[..<metadataStart]]).reading
        #expect(beforeMetadata.note == "stream ended before the metadata event")
        #expect(beforeMetadata.contentEvents == 3)
    }

    @Test("an exception frame mid-stream: noted with its type and message, not completed, the stream's end")
    func converseStreamException() {
        let stream =
            bedrockEvent("messageStart", #"{"role":"assistant"}"#)
            + bedrockEvent("contentBlockDelta", #"{"contentBlockIndex":0,"delta":{"text":"Once"}}"#)
            + bedrockException("throttlingException", message: "Too many tokens, please wait before trying again.")
        let run = converseStreamReader().run(stream)
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream exception: throttlingException: Too many tokens, please wait before trying again.")
        #expect(run.reading.usage == nil && run.reading.servedModel == nil)
        #expect(run.reading.contentEvents == 1)
        #expect(run.clientBytes == stream)
        var meter = converseStreamReader()
        _ = stream.withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd)
        expectSplitInvariant(stream, equals: run) { converseStreamReader() }

        // A metadata event after the exception does not make the inference complete.
        let afterwards = converseStreamReader().run(stream + metadata(input: 5, output: 1)).reading
        #expect(!afterwards.completed && afterwards.usage == nil)
        #expect(afterwards.note?.hasPrefix("stream exception: throttlingException") == true)
    }

    @Test(
        "exceptions and errors of every kind are noted",
        arguments: [
            ("modelStreamErrorException", "Model produced invalid sequence as part of ToolUse."),
            ("validationException", "Input is too long for requested model."),
            ("internalServerException", "The server encountered an error processing your request."),
            ("serviceUnavailableException", "Bedrock is unable to process your request."),
        ])
    func exceptionKinds(type: String, message: String) {
        let reading = converseStreamReader().run(bedrockException(type, message: message)).reading
        #expect(reading.note == "stream exception: \(type): \(message)")
        #expect(!reading.completed)
    }

    @Test("a generic event-stream error message (:error-code, :error-message headers) is noted")
    func errorMessage() {
        let frame = eventStreamFrame(
            headers: [
                EventStreamHeader(name: ":message-type", value: .string("error")),
                EventStreamHeader(name: ":error-code", value: .string("InternalFailure")),
                EventStreamHeader(name: ":error-message", value: .string("An internal error occurred")),
            ], payload: [])
        let reading = converseStreamReader().run(bedrockEvent("messageStart", "{}") + frame).reading
        #expect(reading.note == "stream error: InternalFailure: An internal error occurred")
        #expect(!reading.completed)
    }

    @Test("unknown event and message types are skipped; the stream still completes")
    func unknownTypes() {
        let unknownMessage = eventStreamFrame(headers: [EventStreamHeader(name: ":message-type", value: .string("future"))], payload: [])
        let stream =
            bedrockEvent("messageStart", "{}") + bedrockEvent("futureEvent", #"{"usage":{"inputTokens":999}}"#) + unknownMessage
            + bedrockEvent("messageStop", #"{"stopReason":"end_turn"}"#) + metadata(input: 5, output: 2)
        let reading = converseStreamReader().run(stream).reading
        #expect(reading.completed)
        #expect(reading.usage == TokenUsage(inputTokens: 5, outputTokens: 2))
        #expect(reading.note == "event stream message of unknown type 'future' skipped")
    }

    @Test("a bad CRC in the metadata frame: no usage, not completed, the fault noted")
    func converseStreamBadCRC() {
        var last = metadata(input: 5, output: 2)
        last[last.count - 20] ^= 0x20
        let stream = bedrockEvent("messageStart", "{}") + bedrockEvent("contentBlockDelta", #"{"delta":{"text":"a"}}"#) + last
        let run = converseStreamReader().run(stream)
        #expect(!run.reading.completed && run.reading.usage == nil)
        #expect(run.reading.note?.hasPrefix("event stream frame at byte ") == true)
        #expect(run.reading.note?.contains("message CRC mismatch") == true)
        #expect(run.reading.note?.hasSuffix("; stream ended before the metadata event") == true)
        #expect(run.reading.contentEvents == 1)
        #expect(run.clientBytes == stream, "the client gets the bytes as they came")
        expectSplitInvariant(stream, equals: run) { converseStreamReader() }
    }

    @Test("garbage after the metadata event: the usage and completion stand, the fault is noted")
    func faultAfterTheEnd() {
        let stream = bedrockEvent("messageStart", "{}") + metadata(input: 5, output: 2) + Array(utf8: "garbage!!!!!")
        let reading = converseStreamReader().run(stream).reading
        #expect(reading.completed)
        #expect(reading.usage == TokenUsage(inputTokens: 5, outputTokens: 2))
        #expect(reading.note?.contains("prelude CRC mismatch") == true)
    }

    @Test(
        "bodies that are not an event stream never crash and never complete",
        arguments: ["", "{", #"{"message":"The security token included in the request is invalid."}"#, "\u{0}\u{0}\u{0}\u{10}"])
    func notAStream(_ text: String) {
        for meter in [converseStreamReader(), invokeStreamReader()] {
            let reading = meter.run(Array(utf8: text)).reading
            #expect(!reading.completed)
            #expect(reading.usage == nil)
            #expect(reading.note != nil)
        }
    }

    @Test("random mutations of the recorded stream: never a crash; a changed reading always says why")
    func mutatedStreams() {
        let recorded = RecordedCase.named("bedrock-converse-stream-gpt-oss")
        let whole = converseStreamReader().run(recorded.body).reading
        var generator = SeededGenerator(seed: 2026)
        for _ in 0..<200 {
            var body = recorded.body
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                body[Int.random(in: 0..<body.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
            let cuts = (0..<3).map { _ in Int.random(in: 0...body.count, using: &generator) }.sorted()
            let reading = converseStreamReader().run(body.pieces(cutAt: cuts)).reading
            #expect(reading == whole || reading.note != nil)
        }
    }

    // MARK: - InvokeModelWithResponseStream

    @Test("a bad CRC after message_start: the usage message_start reported is kept, the fault noted")
    func invokeStreamFaultKeepsUsage() {
        var events = invokeStream(handmadeEvents)
        let secondFrame = Int(events[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        events[secondFrame + 30] ^= 0x01
        let run = invokeStreamReader().run(events)
        #expect(!run.reading.completed)
        #expect(run.reading.usage == TokenUsage(inputTokens: 22, outputTokens: 1))
        #expect(run.reading.servedModel == "claude-sonnet-4-5-20250929")
        #expect(run.reading.note?.hasPrefix("event stream frame at byte \(secondFrame): message CRC mismatch") == true)
        expectSplitInvariant(events, equals: run) { invokeStreamReader() }
    }

    @Test("the invocation metrics are used only when the Anthropic events report no usage")
    func invocationMetrics() {
        let withoutUsage = handmadeEvents.map {
            $0.replacingOccurrences(of: #""usage":{"output_tokens":11}"#, with: #""usage":null"#)
                .replacingOccurrences(
                    of: #""usage":{"input_tokens":22,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}"#,
                    with: #""usage":null"#)
        }
        let stopWithCache =
            #"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":126,"#
            + #""invocationLatency":4069,"firstByteLatency":1117,"cacheReadInputTokenCount":14486,"cacheWriteInputTokenCount":2238}}"#
        let stream = invokeStream(Array(withoutUsage.dropLast()) + [stopWithCache])
        let run = invokeStreamReader().run(stream)
        #expect(run.reading.usage == TokenUsage(inputTokens: 7, cacheReadTokens: 14486, cacheWriteTokens: 2238, outputTokens: 126))
        #expect(run.reading.rawUsage?.hasPrefix(#"{"inputTokenCount":7,"outputTokenCount":126,"#) == true)
        #expect(run.reading.completed && run.reading.note == nil)
        #expect(run.reading.servedModel == "claude-sonnet-4-5-20250929")
        expectSplitInvariant(stream, equals: run) { invokeStreamReader() }

        // With usage in the events, the metrics (here deliberately different) are ignored.
        let reported = invokeStreamReader().run(invokeStream(Array(handmadeEvents.dropLast()) + [stopWithCache])).reading
        #expect(reported.usage == TokenUsage(inputTokens: 22, outputTokens: 11))
    }

    @Test("without a model in the events, the path's model is the served one")
    func invokeStreamWithoutModel() {
        let events = handmadeEvents.map { $0.replacingOccurrences(of: #""model":"claude-sonnet-4-5-20250929","#, with: "") }
        let reading = invokeStreamReader().run(invokeStream(events)).reading
        #expect(reading.servedModel == "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        #expect(reading.usage == TokenUsage(inputTokens: 22, outputTokens: 11))
    }

    @Test("another vendor's stream (Llama chunks) ends at its metrics chunk, metered from the invocation metrics")
    func invokeStreamOfAnotherVendor() {
        let chunks = [
            #"{"generation":"Hel","prompt_token_count":12,"generation_token_count":1,"stop_reason":null}"#,
            #"{"generation":"lo!","prompt_token_count":null,"generation_token_count":2,"stop_reason":"stop","#
                + #""amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":2,"invocationLatency":210,"#
                + #""firstByteLatency":95}}"#,
        ]
        let run = invokeStreamReader().run(invokeStream(chunks))
        #expect(run.reading.usage == TokenUsage(inputTokens: 12, outputTokens: 2))
        #expect(run.reading.completed)
        #expect(run.reading.note == nil)
        #expect(run.reading.contentEvents == 2)
        #expect(run.reading.servedModel == pathModel)
        // Cut before the metrics chunk: no usage, not completed, and said so.
        let cut = invokeStreamReader().run(invokeStream(Array(chunks.prefix(1)))).reading
        #expect(!cut.completed)
        #expect(cut.usage == nil)
        #expect(cut.note != nil)
    }

    @Test("a chunk whose bytes are not base64 or not an object is noted; later chunks are still read")
    func malformedChunks() {
        let frames = invokeStream(Array(handmadeEvents.prefix(3)))
        let bad = bedrockEvent("chunk", #"{"bytes":"not base64!"}"#) + bedrockEvent("chunk", #"{"bytes":42}"#)
        let stream = frames + bad + invokeStream(Array(handmadeEvents.dropFirst(3)))
        let reading = invokeStreamReader().run(stream).reading
        #expect(reading.note == "malformed chunk event")
        #expect(reading.usage == TokenUsage(inputTokens: 22, outputTokens: 11))
        #expect(reading.completed)
        let brokenEvent = invokeStreamReader().run(frames + invokeStream(["{not json"]) + invokeStream(Array(handmadeEvents.dropFirst(3))))
        #expect(brokenEvent.reading.note == "malformed stream event")
    }

    @Test("an exception after some chunks: the Anthropic usage so far is kept, the exception noted")
    func invokeStreamException() {
        let stream =
            invokeStream(Array(handmadeEvents.prefix(4)))
            + bedrockException("modelStreamErrorException", message: "Model produced invalid sequence as part of ToolUse.")
        let run = invokeStreamReader().run(stream)
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream exception: modelStreamErrorException: Model produced invalid sequence as part of ToolUse.")
        #expect(run.reading.usage == TokenUsage(inputTokens: 22, outputTokens: 1))
        #expect(run.reading.contentEvents == 2)
        expectSplitInvariant(stream, equals: run) { invokeStreamReader() }
    }

    @Test("a stream cut before message_stop is noted with the usage seen so far")
    func invokeStreamCut() {
        let stream = invokeStream(Array(handmadeEvents.dropLast()))
        let reading = invokeStreamReader().run(stream).reading
        #expect(!reading.completed)
        #expect(reading.note == "stream ended before message_stop")
        #expect(reading.usage == TokenUsage(inputTokens: 22, outputTokens: 11))
    }

    @Test("a streaming API's body without a content type is read as an event stream")
    func noContentType() {
        let meter = APIName.bedrockInvokeStream.wireFormat.makeReader(
            for: PreparedRequest(model: "m", stream: true), contentType: nil)
        #expect(meter.run(invokeStream(handmadeEvents)).reading.usage == TokenUsage(inputTokens: 22, outputTokens: 11))
    }
}

// MARK: - Helpers

/// The Anthropic stream events of the hand-made InvokeModelWithResponseStream fixture, in order.
private let handmadeEvents = [
    #"{"type":"message_start","message":{"id":"msg_bdrk_01HandMadeStream0001","type":"message","role":"assistant","#
        + #""model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"#
        + #""usage":{"input_tokens":22,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}"#,
    #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The capital"}}"#,
    #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" of France is"}}"#,
    #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" Paris."}}"#,
    #"{"type":"content_block_stop","index":0}"#,
    #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":11}}"#,
    #"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":22,"outputTokenCount":11,"#
        + #""invocationLatency":812,"firstByteLatency":407}}"#,
]

/// The padding Bedrock adds to event payloads (`"p"`), as in the hand-made fixture.
private let handmadePadding = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGH", "abcdefghijklmnopq", "abcdefghijklmnopqrstuvwxyz", "abcd",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN", "abcdefghijk", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR", "abcdefgh",
]

/// InvokeModelWithResponseStream frames: one `chunk` event per Anthropic event, its JSON base64-encoded in `bytes`.
private func invokeStream(_ events: [String]) -> [UInt8] {
    events.enumerated().flatMap { index, event in
        let padding = handmadePadding[index % handmadePadding.count]
        return bedrockEvent("chunk", #"{"bytes":"\#(Data(event.utf8).base64EncodedString())","p":"\#(padding)"}"#)
    }
}

/// A ConverseStream `metadata` event with the given counts.
private func metadata(input: Int, output: Int) -> [UInt8] {
    bedrockEvent(
        "metadata",
        #"{"metrics":{"latencyMs":100},"usage":{"inputTokens":\#(input),"outputTokens":\#(output),"totalTokens":\#(input + output)}}"#)
}

/// The path model of the synthetic Bedrock responses.
private let pathModel = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

private func converseReader() -> any ResponseReader {
    APIName.bedrockConverse.wireFormat.makeReader(for: PreparedRequest(model: pathModel, stream: false), contentType: "application/json")
}

private func converseStreamReader() -> any ResponseReader {
    APIName.bedrockConverseStream.wireFormat.makeReader(
        for: PreparedRequest(model: pathModel, stream: true), contentType: "application/vnd.amazon.eventstream")
}

private func invokeStreamReader() -> any ResponseReader {
    APIName.bedrockInvokeStream.wireFormat.makeReader(
        for: PreparedRequest(model: pathModel, stream: true), contentType: "application/vnd.amazon.eventstream")
}
