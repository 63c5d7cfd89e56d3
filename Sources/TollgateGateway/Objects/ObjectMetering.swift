import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore
import TollgateStore

/// What is metered after the request that created it: a batch's results (each line once, at the batch tier) and a
/// background response (once, when it is first retrieved complete).
extension ProxyResponder {
    /// Streams a batch's results to the client untouched while reading each line's usage; every line that bills is
    /// recorded as its own event at the batch service tier.
    ///
    /// Once: a line's event id derives from the provider, the batch and the line's `custom_id` (unique in its batch),
    /// and the meter keeps the first event of an id, so reading the results again, or concurrently, bills nothing
    /// more. A client that stops reading part way leaves the remaining lines for its next retrieval.
    func batchResults(
        _ request: Request, body: ByteBuffer, target: RouteResolver.Target, object: OwnedObject, layout: BatchResultLayout,
        context: InferenceContext
    ) async throws -> Response {
        let batchID = object.parentID ?? object.id
        // Results are read whole: a range of them would cut every line, and lines that cannot be read bill nothing.
        var head = request.head
        head.headerFields[.range] = nil
        head.headerFields[HTTPField.Name("if-range")!] = nil
        let request = Request(head: head, body: request.body)
        let upstreamStarted = ContinuousClock.now
        let response: UpstreamResponse
        do {
            response = try await send(request, body: body, target: target, forceIdentity: true, span: context.span)
        } catch let error as ErrorResponse {
            try await recorder.record(
                context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
            throw error.recorded(as: context.id)
        }
        let status = Int(response.status.code)
        var headers = HeaderPolicy.client(from: response.headers, provider: target.provider, bodyRewritten: false, bodyDecoded: false)
        headers[Self.eventIDField] = context.id
        let length = response.headers.first(name: "content-length").flatMap(Int.init)
        let encoding = response.headers.first(name: "content-encoding")
        let upstreamBody = response.body
        let recorder = self.recorder
        let provider = target.provider
        let logger = self.logger
        return Response(
            status: HTTPResponse.Status(code: status, reasonPhrase: response.status.reasonPhrase), headers: headers,
            body: ResponseBody(contentLength: length) { writer in
                var outcome = ResponseOutcome(status: status, upstreamStarted: upstreamStarted)
                var reader = BatchResultReader(layout: layout)
                let metering = (200..<300).contains(status) && status != 206
                var decoder: (any ContentDecoder)?
                var notes: [String] = []
                do {
                    decoder = try ContentDecoders.make(for: encoding)
                } catch {
                    notes.append("results not metered: \(error)")
                }
                var billed = 0
                func meter(_ lines: [BatchResultLine]) async throws {
                    for line in lines {
                        var reading = line.reading
                        reading.serviceTier = "batch"
                        reading.note = [reading.note, "batch \(batchID) custom_id \(line.customID)"].compactMap { $0 }.joined(separator: "; ")
                        let lineContext = InferenceContext(
                            id: Self.resultEventID(provider: provider.name, batch: batchID, customID: line.customID, createdMs: object.createdMs),
                            arrival: context.arrival, started: context.started, key: context.key, provider: provider,
                            route: Self.batchResultRoute, metered: true, path: context.path,
                            request: PreparedRequest(model: reading.servedModel, stream: false), requestBytes: 0, feature: context.feature,
                            endUser: context.endUser, project: context.project, idempotencyKey: nil)
                        var charged = lineContext
                        charged.spendsUnreserved = true
                        try await recorder.record(charged, ResponseOutcome(status: 200, reading: reading))
                        billed += 1
                    }
                }
                do {
                    for try await piece in upstreamBody {
                        if metering, notes.isEmpty {
                            var failed = false
                            piece.withUnsafeReadableBytes { raw in
                                if let decoder {
                                    do {
                                        try decoder.decode(raw) { reader.observe($0) }
                                    } catch {
                                        failed = true
                                    }
                                } else {
                                    reader.observe(raw)
                                }
                            }
                            if failed { notes.append("results not metered: the body could not be decoded") }
                            try await meter(reader.takeLines())
                        }
                        try await writer.write(piece)
                    }
                    if metering, notes.isEmpty {
                        reader.finish()
                        try await meter(reader.takeLines())
                    }
                } catch {
                    outcome.upstreamFailure = "batch results broken off after \(billed) metered lines: \(error)"
                }
                if reader.malformedLines > 0 { notes.append("\(reader.malformedLines) result lines unreadable") }
                if metering { notes.append("batch \(batchID): \(billed) result lines read") }
                outcome.upstreamFailure = ([outcome.upstreamFailure].compactMap { $0 } + notes).joined(separator: "; ")
                outcome.upstreamEnded = .now
                logger.debug("batch results", metadata: ["batch": "\(batchID)", "lines": "\(billed)"])
                try await recorder.record(context, outcome)
                try await writer.finish(nil)
            })
    }

    /// The id of the event of one result line: the batch's creation time (as UUIDv7 ids start) and a hash of the
    /// provider, the batch and the custom id (UUIDv8 layout). The same line always gets the same id.
    static func resultEventID(provider: String, batch: String, customID: String, createdMs: Int64) -> String {
        derivedEventID(parts: ["batch-result", provider, batch, customID], ms: createdMs)
    }

    /// An event id derived from `parts` (and timed at `ms`), so that recording it twice keeps one event.
    static func derivedEventID(parts: [String], ms: Int64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let millis = UInt64(max(0, ms))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index))) }
        let digest = Array(SHA256.hash(data: Data(parts.joined(separator: "\u{0}").utf8)))
        for index in 6..<16 { bytes[index] = digest[index - 6] }
        return UsageEvent.id(bytes, version: 0x80)
    }

    /// A background response retrieved: when its answer is complete and carries usage, the first such retrieval
    /// records its event (the format's reader over the answer; an id derived from the response, so a concurrent
    /// retrieval cannot bill it twice) and marks it metered.
    func meterBackgroundResponse(
        _ request: Request, body: [UInt8], owned: OwnedObject, target: RouteResolver.Target, principal: Principal, arrival: Date,
        started: ContinuousClock.Instant
    ) async throws {
        let family = target.provider.family
        guard let api = family.objects.createdByInference.first(where: { $0.value == .response })?.key else { return }
        let scan = JSONFieldScanner.scanWhole(body, paths: JSONFieldScanner.KeyPaths([["status"]]))
        let status = scan?.value(at: 0).flatMap(decodeJSONString)
        guard let status, ["completed", "incomplete", "failed", "cancelled"].contains(status) else { return }
        var reader = api.wireFormat.makeReader(for: PreparedRequest(model: nil, stream: false), contentType: "application/json")
        _ = body.withUnsafeBytes { reader.observe($0) }
        var (reading, _) = reader.finish()
        reading.note = [reading.note, "background response \(owned.id), metered when retrieved \(status)"].compactMap { $0 }.joined(separator: "; ")
        var context = InferenceContext(
            id: Self.derivedEventID(parts: ["background", target.provider.name, owned.id], ms: owned.createdMs), arrival: arrival,
            started: started, key: principal.key, provider: target.provider, route: api.rawValue, metered: reading.usage != nil,
            path: request.uri.path, request: PreparedRequest(model: reading.servedModel, stream: false), requestBytes: 0,
            feature: HeaderPolicy.dimension(HeaderPolicy.feature, in: request.headers),
            endUser: HeaderPolicy.dimension(HeaderPolicy.endUser, in: request.headers),
            project: HeaderPolicy.dimension(HeaderPolicy.project, in: request.headers), idempotencyKey: nil)
        context.spendsUnreserved = true
        try await recorder.record(context, ResponseOutcome(status: 200, reading: reading))
        do {
            _ = try await meter.claimObjectForMetering(provider: target.provider.name, id: owned.id)
        } catch {
            logger.warning("background response not marked metered", metadata: ["error": "\(error)"])
        }
    }
}
