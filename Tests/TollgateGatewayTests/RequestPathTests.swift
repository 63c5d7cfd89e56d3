import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Testing
import TollgateCore

@testable import TollgateGateway
@testable import TollgateStore

/// The request path itself, driven through the real ``ProxyResponder`` against a provider on the loopback: the
/// promises the meter makes to the people who bill from it (an answer is never complete before its event is
/// committed; a client that leaves, an undecodable body, an upstream error or a dropped response is still recorded).
/// Each suite names one promise; breaking the code that keeps it fails its tests.
enum RequestPathTests {}

// MARK: - Durability

extension RequestPathTests {
    /// What `meter.durability` promises a client: under `strict`, the end of a response waits for its event's commit
    /// (a client never holds a complete answer that the meter could still lose); under `relaxed`, nothing waits.
    ///
    /// The meter writer's commits are held by the test (``CommitGate``), and the relay runs on a ``CountingExecutor``,
    /// so that "before the commit, once the relay can do nothing more" is a state the test looks at rather than a race
    /// it hopes to win.
    @Suite("Request path: durability")
    struct DurabilityPromises {
        /// One response of the durability tests: the pieces the provider sends before the one in which the meter sees
        /// the end of the inference, and that terminal piece.
        struct Exchange: Sendable, CustomTestStringConvertible {
            let testDescription: String
            let request: ChatRequest
            let contentType: String
            let leading: [String]
            let terminal: String
            /// Bytes of `leading` the relay keeps back until the end is seen: a JSON body's last byte, so that a client
            /// cannot complete a body the meter has not recognised the end of.
            var keptBack = 0
            /// What the client gets of the terminal piece before the commit: the events before the terminal one.
            var terminalLead = ""
            /// What the client gets in all, when it differs from what the provider sent (a usage chunk taken out).
            var rewritten: String?

            /// What the client must have before the terminal piece is sent.
            var beforeTerminal: String { String(leading.joined().dropLast(keptBack)) }
            /// What the client must have while the event is not committed under strict durability.
            var beforeCommit: String { beforeTerminal + terminalLead }
            /// The whole response.
            var whole: String { rewritten ?? leading.joined() + terminal }
        }

        static let exchanges = [
            Exchange(
                testDescription: "SSE stream, terminal `data: [DONE]`", request: ChatRequest(stream: true, includeUsage: true),
                contentType: "text/event-stream; charset=utf-8", leading: Array(OpenAIWire.stream.dropLast()),
                terminal: OpenAIWire.stream.last!),
            Exchange(
                testDescription: "SSE stream in one piece: the events before `data: [DONE]` do not wait",
                request: ChatRequest(stream: true, includeUsage: true), contentType: "text/event-stream", leading: [],
                terminal: OpenAIWire.stream.joined(), terminalLead: OpenAIWire.stream.dropLast().joined()),
            Exchange(
                testDescription: "SSE stream in one piece, the usage the proxy asked for taken out: the same",
                request: ChatRequest(stream: true), contentType: "text/event-stream", leading: [],
                terminal: OpenAIWire.stream.joined(), terminalLead: OpenAIWire.withoutAddedUsage.dropLast().joined(),
                rewritten: OpenAIWire.withoutAddedUsage.joined()),
            Exchange(
                testDescription: "JSON body, terminal last byte", request: ChatRequest(), contentType: "application/json",
                leading: [String(OpenAIWire.completion.prefix(200))], terminal: String(OpenAIWire.completion.dropFirst(200)),
                keptBack: 1),
        ]

        @Test("strict: the client gets the terminal bytes only once the event is committed", arguments: exchanges)
        func strictHoldsTheEnd(_ exchange: Exchange) async throws {
            let upstreamBody = PacedBody()
            defer { upstreamBody.end() }
            try await Stub.withUpstream(answering: { upstreamBody.response(contentType: exchange.contentType) }) { port in
                try await withGateway(upstreamPort: port, commitsHeld: true) { gateway in
                    let sent = Watched(SentBytes())
                    let executor = CountingExecutor()
                    let request = gateway.start(exchange.request, sent: sent, on: executor)
                    for piece in exchange.leading { upstreamBody.send(piece) }
                    // The body streams as it comes: everything before the end reaches the client without waiting.
                    try await sent.wait(for: "the body before its end to reach the client") { $0.text == exchange.beforeTerminal }

                    upstreamBody.send(exchange.terminal)
                    upstreamBody.end()
                    try await gateway.commits.waitForEvents()
                    // The relay has handed its event over; once it can do nothing more, it must not have sent the end.
                    try await executor.idle()
                    #expect(sent.value.text == exchange.beforeCommit, "the terminal bytes went out before the event's commit")
                    #expect(try await gateway.meter.events().isEmpty)

                    gateway.commits.open()
                    let response = try await request.response()
                    #expect(response.status == .ok)
                    #expect(response.body.text == exchange.whole)
                    // Complete for the client means committed in the meter: no flush needed to read it.
                    let event = try onlyEvent(try await gateway.meter.events())
                    #expect(event.status == 200)
                    #expect(event.hasReportedUsage)
                    #expect(event.id == response.headers[ProxyResponder.eventIDField])
                }
            }
        }

        @Test("relaxed: the client gets the whole response while the event's commit is still held", arguments: exchanges)
        func relaxedDoesNotWait(_ exchange: Exchange) async throws {
            let upstreamBody = PacedBody()
            for piece in exchange.leading + [exchange.terminal] { upstreamBody.send(piece) }
            upstreamBody.end()
            try await Stub.withUpstream(answering: { upstreamBody.response(contentType: exchange.contentType) }) { port in
                try await withGateway(
                    upstreamPort: port, commitsHeld: true, configure: { $0.meter.durability = .relaxed }
                ) { gateway in
                    let response = try await gateway.start(exchange.request).response()
                    #expect(response.status == .ok)
                    #expect(response.body.text == exchange.whole)
                    try await gateway.commits.waitForEvents()
                    #expect(try await gateway.meter.events().isEmpty, "the commit is held: the client did not wait for it")

                    let event = try onlyEvent(try await gateway.recordedEvents())
                    #expect(event.status == 200)
                    #expect(event.hasReportedUsage)
                }
            }
        }
    }
}

// MARK: - Clients that leave

extension RequestPathTests {
    /// A client that goes away does not end metering: the provider has done the work (and bills it), so the relay
    /// reads the rest of the upstream to learn the real usage, for at most `proxy.disconnect_drain_s`, and records the
    /// event with status 499; even when the response was dropped before its body was ever written (``RelayGuard``).
    @Suite("Request path: clients that leave")
    struct ClientsThatLeave {
        @Test("a client that disconnects mid-stream: the upstream is drained and its real usage recorded with status 499")
        func disconnectMidStream() async throws {
            try await Self.afterHangUp { gateway, upstreamBody, sent in
                #expect(sent.failedWrites == 1, "the relay stops writing once the client has gone")
                // The rest of the answer, usage included, comes after the client left.
                for piece in [OpenAIWire.stopChunk, OpenAIWire.usageChunk, OpenAIWire.done] { upstreamBody.send(piece) }
                upstreamBody.end()

                try await gateway.commits.waitForEvents()
                let event = try onlyEvent(try await gateway.recordedEvents())
                #expect(event.status == 499)
                #expect(event.stream)
                #expect(event.hasReportedUsage, "usage \(event.usage), note \(event.note ?? "-")")
                #expect(event.note?.contains("client disconnected before the end of the response") == true)
            }
        }

        @Test("the drain after a disconnect ends after disconnect_drain_s, and the event is recorded anyway")
        func drainIsBounded() async throws {
            try await Self.afterHangUp(configure: { $0.proxy.disconnectDrainSeconds = 0.5 }) { gateway, _, _ in
                // The provider never ends its answer: only the drain's deadline can end the relay.
                try await gateway.commits.waitForEvents()
                let event = try onlyEvent(try await gateway.recordedEvents())
                #expect(event.status == 499)
                #expect(event.estimated, "no usage was read, so it is estimated")
                #expect(event.note?.contains("stopped reading the upstream 0.5 s after the client left") == true, "\(event.note ?? "-")")
            }
        }

        @Test("a response dropped before its body is written is still drained and recorded (RelayGuard)")
        func droppedResponseIsRecorded() async throws {
            let upstreamBody = PacedBody()
            defer { upstreamBody.end() }
            upstreamBody.send(OpenAIWire.roleChunk)
            try await Stub.withUpstream(answering: { upstreamBody.response(contentType: "text/event-stream") }) { port in
                try await withGateway(upstreamPort: port) { gateway in
                    let sent = Watched(SentBytes())
                    let response = try await gateway.start(ChatRequest(stream: true), sent: sent, dropsBody: true).response()
                    #expect(response.status == .ok)
                    #expect(sent.value.writes == 0, "the body writer never ran")
                    // The rest of the answer, usage included, comes after the response was dropped.
                    for piece in OpenAIWire.stream.dropFirst() { upstreamBody.send(piece) }
                    upstreamBody.end()

                    try await gateway.commits.waitForEvents()
                    let event = try onlyEvent(try await gateway.recordedEvents())
                    #expect(event.status == 499)
                    #expect(event.hasReportedUsage, "usage \(event.usage), note \(event.note ?? "-")")
                }
            }
        }

        /// Runs `body` once a client has hung up mid-stream and the relay has seen it gone: a stream through a live
        /// server (a real socket, AsyncHTTPClient as the client) whose first chunk reached the client, then the provider's
        /// content one chunk at a time until a write of the relay failed. `body` gets the gateway, the provider's body
        /// (to go on with) and what the relay handed over; the server stays up while it runs, as stopping it would
        /// cancel the relay's drain.
        static func afterHangUp(
            configure: (inout TollgateConfig) -> Void = { _ in }, _ body: (Gateway, PacedBody, SentBytes) async throws -> Void
        ) async throws {
            let upstreamBody = PacedBody()
            defer { upstreamBody.end() }
            try await Stub.withUpstream(answering: { upstreamBody.response(contentType: "text/event-stream") }) { upstreamPort in
                try await withGateway(upstreamPort: upstreamPort, configure: configure) { gateway in
                    let sent = Watched(SentBytes())
                    try await withLoopbackServer(ObservedResponder(inner: gateway.responder, sent: sent)) { port in
                        try await hangUpAfterFirstChunk(port: port, headers: gateway.requestHeaders, upstreamBody: upstreamBody)
                        // The server learns of the hang-up on a later write; each chunk is one write by the relay.
                        for index in 1...200 where sent.value.failedWrites == 0 {
                            let writes = sent.value.writes
                            upstreamBody.send(OpenAIWire.content("token \(index) "))
                            try await sent.wait(for: "the relay to write chunk \(index)") { $0.writes > writes }
                        }
                        try #require(sent.value.failedWrites > 0, "the relay never saw the client gone")
                        try await body(gateway, upstreamBody, sent.value)
                    }
                }
            }
        }

        /// Streams a chat completion from the proxy at `port` with AsyncHTTPClient, and hangs up once the first chunk
        /// (which this sends upstream) has arrived.
        static func hangUpAfterFirstChunk(port: Int, headers: HTTPFields, upstreamBody: PacedBody) async throws {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(ChatRequest.path)")
            request.method = .POST
            for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
            request.body = .bytes(ChatRequest(stream: true).buffer)
            let received = Watched<[UInt8]>([])
            try await withHTTPClient { client in
                let reading = Task { [request] in
                    let response = try await client.execute(request, timeout: .seconds(30))
                    for try await piece in response.body { received.update { $0 += piece.readableBytesView } }
                }
                upstreamBody.send(OpenAIWire.roleChunk)
                try await received.wait(for: "the first chunk to reach the client") { !$0.isEmpty }
                // Hanging up: AsyncHTTPClient closes the connection of a request whose task is cancelled.
                reading.cancel()
                _ = await reading.result
            }
        }
    }
}

// MARK: - Bodies the meter cannot read

extension RequestPathTests {
    /// A compressed body the meter cannot decode costs the meter its reading, never the client its answer: the client
    /// gets the provider's bytes as they were sent, and the event says why its usage is missing. Only when the client
    /// was promised rewritten (decoded) bytes is its response broken off instead, so that it is not mistaken for a
    /// complete one.
    @Suite("Request path: undecodable bodies")
    struct UndecodableBodies {
        /// A gzip body whose header is damaged: zlib refuses it from the first byte.
        static func damagedGzip(_ text: String) -> [UInt8] {
            compressed(Array(text.utf8), as: .gzip).flipping(0)
        }

        @Test("a gzip body that cannot be decoded reaches the client unchanged; the event notes the decoding failure")
        func passedOnUnchanged() async throws {
            let body = Self.damagedGzip(OpenAIWire.completion)
            try await Stub.withUpstream(answering: { Stub.json(.ok, body, headers: [.contentEncoding: "gzip"]) }) { port in
                try await withGateway(upstreamPort: port) { gateway in
                    let response = try await gateway.start(ChatRequest()).response()
                    #expect(response.status == .ok)
                    #expect(Array(response.body.readableBytesView) == body)
                    #expect(response.headers[.contentEncoding] == "gzip")

                    let event = try onlyEvent(try await gateway.recordedEvents())
                    #expect(event.status == 200)
                    #expect(event.note?.contains("compressed body is corrupt") == true, "\(event.note ?? "-")")
                    #expect(event.note?.contains("before its end") == false, "the provider sent its whole body: \(event.note ?? "-")")
                }
            }
        }

        @Test("a gzip stream the gateway must rewrite but cannot decode: the client's response is broken off, the event says why")
        func brokenOffWhenRewriting() async throws {
            let body = Self.damagedGzip(OpenAIWire.stream.joined())
            let answer = Response(
                status: .ok, headers: [.contentType: "text/event-stream", .contentEncoding: "gzip"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
            try await Stub.withUpstream(answering: { answer }) { port in
                try await withGateway(upstreamPort: port) { gateway in
                    let sent = Watched(SentBytes())
                    // No include_usage: the gateway adds it and must take the usage chunk back out of decoded bytes.
                    await #expect(throws: UpstreamBrokeOff.self) { try await gateway.start(ChatRequest(stream: true), sent: sent).response() }
                    #expect(sent.value.bytes.isEmpty, "no byte of the undecodable body reached the client")

                    let note = try onlyEvent(try await gateway.recordedEvents()).note ?? "-"
                    #expect(note.contains("compressed body is corrupt") && note.contains("could not be decoded for the client"), "\(note)")
                }
            }
        }
    }
}

// MARK: - Upstream errors

extension RequestPathTests {
    /// A failed inference is recorded too (an operator needs to see a provider refusing or failing): a provider's own
    /// error reaches the client as it was sent; a provider that cannot be reached gets Tollgate's 502 in the route's
    /// error shape. Either way one event carries the status.
    @Suite("Request path: upstream errors")
    struct UpstreamErrors {
        static let answers: [(HTTPResponse.Status, String)] = [
            (
                .tooManyRequests,
                OpenAIWire.error(
                    "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
                    type: "requests", code: "rate_limit_exceeded")
            ),
            (
                .internalServerError,
                OpenAIWire.error("The server had an error while processing your request. Sorry about that!", type: "server_error", code: nil)
            ),
        ]

        @Test("a provider's error answer reaches the client unchanged and is recorded with its status", arguments: answers)
        func providerError(status: HTTPResponse.Status, body: String) async throws {
            try await Stub.withUpstream(answering: { Stub.json(status, Array(body.utf8)) }) { port in
                try await withGateway(upstreamPort: port) { gateway in
                    let response = try await gateway.start(ChatRequest()).response()
                    #expect(response.status == status)
                    #expect(response.body.text == body)

                    let event = try onlyEvent(try await gateway.recordedEvents())
                    #expect(event.status == status.code)
                    #expect(event.usage.totalTokens == 0)
                    #expect(!event.estimated, "a failed answer is not billed by estimate")
                    #expect(event.id == response.headers[ProxyResponder.eventIDField])
                }
            }
        }

        @Test("a provider that cannot be reached: 502 in OpenAI's error shape, and an event with that status")
        func unreachable() async throws {
            // A refused connection is not retried: the 502 comes at once (the short connect timeout only bounds a hang).
            let port = try await Stub.closedPort()
            try await withGateway(upstreamPort: port, configure: { $0.proxy.connectTimeoutSeconds = 1 }) { gateway in
                let response = try await gateway.start(ChatRequest()).response()
                #expect(response.status == .badGateway)
                #expect(response.headers[.contentType] == "application/json")
                let error = try JSONDecoder().decode(OpenAIErrorBody.self, from: Data(response.body.readableBytesView)).error
                #expect(error.type == "upstream_error")
                #expect(error.code == "upstream_unreachable")
                #expect(error.message == "Provider '\(Stub.provider)' could not be reached.")

                let event = try onlyEvent(try await gateway.recordedEvents())
                #expect(event.status == 502)
                #expect(event.note == error.message)
                #expect(response.headers[ProxyResponder.eventIDField] == event.id, "Tollgate's own error names its event")
            }
        }

        /// OpenAI's error shape, as an SDK decodes it.
        struct OpenAIErrorBody: Decodable {
            struct Detail: Decodable {
                let message: String
                let type: String
                let code: String?
            }
            let error: Detail
        }
    }
}
