import Logging
import TollgateCore
import TollgateStore

/// A response reader that also notes the id of the object an inference created (a stored response, a stored chat
/// completion): the top-level `id` of a JSON answer, or of a stream's first event that names one (`response.id` of
/// Responses' `response.created`, `id` of a chat chunk). The wrapped reader meters and rewrites as before.
struct ObjectIDCapture: ResponseReader {
    private(set) var inner: any ResponseReader
    private let stream: Bool
    private var scanner = JSONFieldScanner(paths: ObjectIDCapture.paths)
    private var framer = SSEFramer()
    /// The id, once seen.
    private(set) var capturedID: String?

    private static let paths = JSONFieldScanner.KeyPaths([["id"], ["response", "id"]])

    init(inner: any ResponseReader, stream: Bool) {
        self.inner = inner
        self.stream = stream
    }

    var reachedEnd: Bool { inner.reachedEnd }
    var rewrites: Bool { inner.rewrites }
    var terminalEventStart: Int? { inner.terminalEventStart }

    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        if capturedID == nil {
            if stream {
                var found: String?
                framer.feed(piece) { event in
                    guard found == nil, event.hasData, let scan = JSONFieldScanner.scanWhole(event.data, paths: Self.paths) else { return }
                    found = Self.id(in: scan)
                }
                capturedID = found
            } else {
                scanner.feed(piece)
            }
        }
        return inner.observe(piece)
    }

    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        if !stream, capturedID == nil {
            scanner.finish()
            if scanner.isComplete, !scanner.isMalformed { capturedID = Self.id(in: scanner) }
        }
        return inner.finish()
    }

    private static func id(in scan: JSONFieldScanner) -> String? {
        (scan.value(at: 1) ?? scan.value(at: 0)).flatMap(decodeJSONString).flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// Who owns what an inference creates, recorded once its response ends (before its last bytes go out under strict
/// durability, so that the client can reach the object as soon as it has the answer).
struct ObjectOwnership: Sendable {
    let meter: MeterStore
    let provider: String
    let kind: ObjectKind
    let customer: String
    let keyID: String
    /// `pending` for a background response, metered when its result is first retrieved complete.
    let state: String?
}

extension ObjectOwnership {
    /// Records the object `id` as the customer's; a failure is logged (the object then answers 404 to everyone).
    func record(id: String, createdMs: Int64, logger: Logger) async {
        do {
            try await meter.recordObjects([
                OwnedObject(provider: provider, id: id, kind: kind, customer: customer, keyID: keyID, createdMs: createdMs, state: state)
            ])
        } catch {
            logger.error("object owner not recorded", metadata: ["object": "\(id)", "error": "\(error)"])
        }
    }
}

extension ProxyResponder {
    /// For an inference whose answer is a stored object: refuses a `previous_response_id` that is not the caller's
    /// (404, recorded, before the provider), and says who will own the answer. A background response (`background:
    /// true`, not streamed) answers before it has usage: its creation is recorded unmetered and it is metered when
    /// first retrieved complete. `store`, `background` and `previous_response_id` are the request body's one reading
    /// (``PreparedRequest``).
    func objectOwnership(
        api: APIName, target: RouteResolver.Target, principal: Principal, prepared: PreparedRequest, context: inout InferenceContext
    ) async throws -> ObjectOwnership? {
        guard let kind = api.family.objects.createdByInference[api] else { return nil }
        if kind == .response, prepared.background, prepared.stream {
            // A streamed background response could be left mid-stream and fetched whole later, unmetered.
            try await recorder.record(context, ResponseOutcome(status: 400, upstreamFailure: "refused: a streamed background response"))
            throw ErrorResponse.badRequest(
                "Tollgate meters a background response when it is retrieved complete: create it without stream, or stream it "
                    + "without background.", code: "background_stream_not_metered"
            ).recorded(as: context.id)
        }
        if kind == .response, let previous = prepared.previousResponseID, !previous.isEmpty {
            let owned = try await ownedObject(provider: target.provider.name, id: previous, kind: .response, customer: principal.customer)
            if owned?.state == ObjectState.pending {
                try await recorder.record(
                    context, ResponseOutcome(status: 400, upstreamFailure: "refused: previous response \(previous) is not metered yet"))
                throw ErrorResponse.badRequest(
                    "Response '\(previous)' is still in the background: retrieve it complete before continuing from it.",
                    code: "previous_response_pending"
                ).recorded(as: context.id)
            }
            if owned == nil {
                try await recorder.record(
                    context, ResponseOutcome(status: 404, upstreamFailure: "refused: previous response \(previous) is not the customer's"))
                throw ErrorResponse(
                    status: .notFound, message: "Previous response with id '\(previous)' not found.", type: "invalid_request_error",
                    code: "previous_response_not_found"
                ).recorded(as: context.id)
            }
        }
        let background = kind == .response && prepared.background && !prepared.stream
        // Responses are stored unless `store: false`; chat completions only with `store: true`.
        let stored = kind == .response ? prepared.store != false : prepared.store == true
        guard stored || background else { return nil }
        if background { context.metered = false }
        return ObjectOwnership(
            meter: meter, provider: target.provider.name, kind: kind, customer: principal.customer, keyID: principal.key.id,
            state: background ? ObjectState.pending : nil)
    }
}
