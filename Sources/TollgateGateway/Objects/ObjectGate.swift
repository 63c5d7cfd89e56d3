import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateStore

/// Provider objects (files, batches, stored responses and completions) behind ownership: a customer reaches only the
/// objects it created through Tollgate. Every request is recorded as an unmetered event (route `objects`, its path and
/// status); a batch's results are metered line by line, once, when they are read through Tollgate.
extension ProxyResponder {
    /// The `route` of the event of an object request.
    static let objectsRoute = "objects"
    /// The `route` of the event of one line of a batch's results.
    static let batchResultRoute = "batch_result"
    /// The largest object metadata answer (and list item) read whole.
    static let maxObjectBodyBytes = 8 * 1024 * 1024
    /// The largest page a list answers; a client asking for more gets `has_more` and pages on.
    static let maxListPage = 100

    func objects(
        _ request: Request, body: ByteBuffer, object: ObjectRequest, target: RouteResolver.Target, principal: Principal, arrival: Date,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        try requireWritableMeter()
        var context = makeContext(
            request, target: target, route: Self.objectsRoute, key: principal.key, prepared: PreparedRequest(model: nil, stream: false),
            bytes: body.readableBytes, arrival: arrival, started: started)
        context.metered = false
        let provider = target.provider.name
        var owned: OwnedObject?
        if let id = object.id {
            owned = try await ownedObject(provider: provider, id: id, kind: object.kind, customer: principal.customer)
            guard owned != nil else {
                try await recorder.record(
                    context, ResponseOutcome(status: 404, upstreamFailure: "refused: \(object.kind) \(id) is not the customer's"))
                throw ErrorResponse(status: .notFound, message: object.route.notFoundMessage(id), type: "invalid_request_error", code: "not_found")
                    .recorded(as: context.id)
            }
        }
        switch object.operation {
        case .list:
            return try await list(request, object: object, target: target, principal: principal, context: context)
        case .create where object.kind == .batch:
            // A batch reads its requests from a file: it must be the caller's.
            let scan = JSONFieldScanner.scanWhole(Array(body.readableBytesView), paths: JSONFieldScanner.KeyPaths([["input_file_id"]]))
            if scan == nil || scan?.duplicate != nil {
                // A body Tollgate cannot read is one whose input file it cannot check.
                try await recorder.record(context, ResponseOutcome(status: 400, upstreamFailure: "refused: batch body not readable"))
                throw ErrorResponse.badRequest("The batch body is not one JSON object Tollgate can read.", code: "invalid_json")
                    .recorded(as: context.id)
            }
            if let fileID = scan?.value(at: 0).flatMap(decodeJSONString),
                try await ownedObject(provider: provider, id: fileID, kind: .file, customer: principal.customer) == nil
            {
                try await recorder.record(
                    context, ResponseOutcome(status: 404, upstreamFailure: "refused: input file \(fileID) is not the customer's"))
                throw ErrorResponse(status: .notFound, message: "No such File object: \(fileID)", type: "invalid_request_error", code: "not_found")
                    .recorded(as: context.id)
            }
        case .content:
            if let layout = object.route.results, let owned, owned.kind == .batch || owned.parentID != nil {
                return try await batchResults(request, body: body, target: target, object: owned, layout: layout, context: context)
            }
            return try await passThrough(request, body: body, target: target, recording: context)
        default:
            break
        }
        // Creating an object (a file, a batch that bills every line) takes part in idempotent retries: a retry gets the
        // first answer, not a second object.
        if object.operation == .create, let replay = try await claimIdempotencyKey(request, body: body, target: target, context: &context) {
            return replay
        }
        // Metadata: read whole, so that ids can be recorded before the client has them.
        let upstreamStarted = ContinuousClock.now
        let answer: UpstreamAnswer
        do {
            answer = try await readWhole(
                method: request.method, headers: request.headers, body: body, target: target, idempotencyKey: context.idempotency?.upstreamKey)
        } catch let error as ErrorResponse {
            try await recorder.record(
                context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
            throw error.recorded(as: context.id)
        }
        var bytes = answer.body
        if (200..<300).contains(answer.status) {
            do {
                bytes = try await afterSuccess(
                    request, object: object, owned: owned, body: bytes, target: target, principal: principal, arrival: arrival, started: started)
            } catch let error as ErrorResponse {
                // The owner could not be recorded: the client is told to retry, and the event (and any idempotency key)
                // says the request did not complete.
                try await recorder.record(
                    context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
                throw error.recorded(as: context.id)
            }
        }
        var outcome = ResponseOutcome(status: answer.status, upstreamStarted: upstreamStarted)
        outcome.upstreamEnded = .now
        outcome.reading.completed = true  // read whole
        var headers = HeaderPolicy.client(from: answer.headers, provider: target.provider, bodyRewritten: true, bodyDecoded: true)
        if let idempotent = context.idempotency {
            var capture = ResponseCapture(headers: headers, limit: idempotent.maxResponseBytes)
            capture.append(ByteBuffer(bytes: bytes))
            outcome.captured = capture
        }
        try await recorder.record(context, outcome)
        headers[Self.eventIDField] = context.id
        return Response(
            status: HTTPResponse.Status(code: answer.status, reasonPhrase: answer.reasonPhrase), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The caller's record of an object of `kind`, or `nil` when the object is another customer's, of another kind,
    /// or was not created through Tollgate.
    func ownedObject(provider: String, id: String, kind: ObjectKind, customer: String) async throws -> OwnedObject? {
        let found: OwnedObject?
        do {
            found = try meter.object(provider: provider, id: id)
        } catch {
            logger.error("object lookup failed", metadata: ["error": "\(error)"])
            throw ErrorResponse(status: .serviceUnavailable, message: "The meter is unavailable.", type: "server_error", code: "meter_unavailable")
        }
        guard let found, found.customer == customer, found.kind == kind else { return nil }
        return found
    }

    /// What a successful metadata answer tells: a created object's id, a batch's output and error files, a deleted
    /// object, a background response's completion. Returns the body for the client (a batch's `results_url` pointing
    /// at Tollgate instead of the provider).
    private func afterSuccess(
        _ request: Request, object: ObjectRequest, owned: OwnedObject?, body: [UInt8], target: RouteResolver.Target, principal: Principal,
        arrival: Date, started: ContinuousClock.Instant
    ) async throws -> [UInt8] {
        let provider = target.provider.name
        let nowMs = Int64(arrival.timeIntervalSince1970 * 1000)
        let scan = JSONFieldScanner.scanWhole(body, paths: Self.metadataPaths)
        func string(_ index: Int) -> String? { scan?.value(at: index).flatMap(decodeJSONString).flatMap { $0.isEmpty ? nil : $0 } }
        var records: [OwnedObject] = []
        let id = object.id ?? string(0)
        if object.operation == .create, let id {
            records.append(
                OwnedObject(provider: provider, id: id, kind: object.kind, customer: principal.customer, keyID: principal.key.id, createdMs: nowMs))
        }
        if object.operation == .delete, let id = object.id {
            do { try await meter.removeObject(provider: provider, id: id) } catch {
                logger.warning("object not forgotten", metadata: ["error": "\(error)"])
            }
        }
        if object.kind == .batch, let id {
            for file in [string(1), string(2)].compactMap({ $0 }) {
                records.append(
                    OwnedObject(
                        provider: provider, id: file, kind: .file, customer: principal.customer, keyID: principal.key.id, parentID: id,
                        createdMs: nowMs))
            }
        }
        if !records.isEmpty {
            do {
                try await meter.recordObjects(records)
            } catch {
                logger.error("objects not recorded", metadata: ["error": "\(error)"])
                throw ErrorResponse(
                    status: .serviceUnavailable, message: "Tollgate could not record the object's owner; retry shortly.", type: "server_error",
                    code: "meter_unavailable")
            }
        }
        if object.kind == .response, object.operation == .retrieve, let owned, owned.state == ObjectState.pending {
            try await meterBackgroundResponse(
                request, body: body, owned: owned, target: target, principal: principal, arrival: arrival, started: started)
        }
        if let capture = scan?.capture(at: 3), let url = decodeJSONString(capture.bytes) {
            let replacement = encodeJSONString(clientURL(for: url, request: request, target: target))
            return JSONEdit.apply([JSONEdit.Replacement(range: capture.start..<capture.end, bytes: replacement)], to: body)
        }
        return body
    }

    /// `id`, `output_file_id`, `error_file_id`, `results_url`.
    static let metadataPaths = JSONFieldScanner.KeyPaths([["id"], ["output_file_id"], ["error_file_id"], ["results_url"]])

    /// A provider URL of the object (a Message Batch's `results_url`) as a URL of Tollgate, on the path the client
    /// used: the client's SDK follows it, with its virtual key, to Tollgate rather than to the provider.
    func clientURL(for url: String, request: Request, target: RouteResolver.Target) -> String {
        guard url.hasPrefix(target.provider.baseURL) else { return url }
        let upstreamPath = String(url.dropFirst(target.provider.baseURL.count))
        let clientPath = request.uri.path
        let prefix = clientPath.hasSuffix(target.upstreamPath) ? String(clientPath.dropLast(target.upstreamPath.count)) : ""
        guard let host = request.head.authority else { return prefix + upstreamPath }
        let scheme = request.headers[HTTPField.Name("x-forwarded-proto")!] ?? "http"
        return "\(scheme)://\(host)\(prefix)\(upstreamPath)"
    }

    /// A list of the caller's objects, built from the meter (which knows exactly whose each object is), newest first
    /// unless `order=asc`, paged by the `after` / `after_id` cursor, at most ``maxListPage`` a page; each object's
    /// metadata is read fresh from the provider. An object the provider no longer has is forgotten and left out.
    private func list(
        _ request: Request, object: ObjectRequest, target: RouteResolver.Target, principal: Principal, context: InferenceContext
    ) async throws -> Response {
        let query = target.upstreamQuery
        func parameter(_ name: String) -> String? { Provider.queryValue(name, in: query).map { $0.removingPercentEncoding ?? $0 } }
        let limit = min(max(parameter("limit").flatMap(Int.init) ?? 20, 1), Self.maxListPage)
        let descending = parameter("order") != "asc"
        let after = parameter("after") ?? parameter("after_id")
        let provider = target.provider.name
        let upstreamStarted = ContinuousClock.now
        let page: (objects: [OwnedObject], hasMore: Bool)
        do {
            page = try await meter.objects(
                customer: principal.customer, provider: provider, kinds: [object.kind], descending: descending, after: after, limit: limit)
        } catch {
            throw ErrorResponse(status: .serviceUnavailable, message: "The meter is unavailable.", type: "server_error", code: "meter_unavailable")
        }
        var items: [(id: String, body: [UInt8])] = []
        for owned in page.objects {
            var one = target
            one.upstreamPath = object.collectionPath + "/" + owned.id
            one.upstreamQuery = nil
            let answer: UpstreamAnswer
            do {
                answer = try await readWhole(method: .get, headers: request.headers, body: ByteBuffer(), target: one)
            } catch let error as ErrorResponse {
                try await recorder.record(
                    context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
                throw error.recorded(as: context.id)
            }
            if answer.status == 404 {
                try? await meter.removeObject(provider: provider, id: owned.id)
                continue
            }
            guard (200..<300).contains(answer.status) else {
                var outcome = ResponseOutcome(status: answer.status, upstreamStarted: upstreamStarted)
                outcome.upstreamFailure = "listing: the provider answered \(answer.status) for \(owned.id)"
                try await recorder.record(context, outcome)
                var headers = HeaderPolicy.client(from: answer.headers, provider: target.provider, bodyRewritten: true, bodyDecoded: true)
                headers[Self.eventIDField] = context.id
                return Response(
                    status: HTTPResponse.Status(code: answer.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
                )
            }
            var body = answer.body
            if let capture = JSONFieldScanner.scanWhole(body, paths: Self.metadataPaths)?.capture(at: 3), let url = decodeJSONString(capture.bytes) {
                let replacement = encodeJSONString(clientURL(for: url, request: request, target: target))
                body = JSONEdit.apply([JSONEdit.Replacement(range: capture.start..<capture.end, bytes: replacement)], to: body)
            }
            items.append((owned.id, JSONEdit.compacted(body)))
        }
        var text: [UInt8] = Array((target.provider.family.objects.listHasObjectMember ? #"{"object":"list","data":["# : #"{"data":["#).utf8)
        for (index, item) in items.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            text += item.body
        }
        text += Array("],\"first_id\":".utf8) + (items.first.map { encodeJSONString($0.id) } ?? Array("null".utf8))
        text += Array(",\"last_id\":".utf8) + (items.last.map { encodeJSONString($0.id) } ?? Array("null".utf8))
        text += Array(",\"has_more\":\(page.hasMore)}".utf8)
        var outcome = ResponseOutcome(status: 200, upstreamStarted: upstreamStarted)
        outcome.upstreamEnded = .now
        try await recorder.record(context, outcome)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[Self.eventIDField] = context.id
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// An upstream answer read whole (decoded if the provider compressed it anyway).
    struct UpstreamAnswer {
        var status: Int
        var reasonPhrase: String
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// Sends and reads the whole answer (at most ``maxObjectBodyBytes``).
    func readWhole(
        method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer, target: RouteResolver.Target, idempotencyKey: String? = nil
    ) async throws -> UpstreamAnswer {
        let response = try await send(
            method: method, headers: headers, body: body, target: target, forceIdentity: true, idempotencyKey: idempotencyKey)
        var bytes: [UInt8] = []
        do {
            let decoder = try ContentDecoders.make(for: response.headers.first(name: "content-encoding"))
            for try await piece in response.body {
                if let decoder {
                    try piece.withUnsafeReadableBytes { raw throws(ContentDecodingError) in
                        try decoder.decode(raw) { bytes.append(contentsOf: $0) }
                    }
                } else {
                    bytes.append(contentsOf: piece.readableBytesView)
                }
                if bytes.count > Self.maxObjectBodyBytes {
                    throw ErrorResponse.upstream(
                        .badGateway, "The provider's answer exceeds \(Self.maxObjectBodyBytes) bytes.", code: "upstream_too_large")
                }
            }
        } catch let error as ErrorResponse {
            throw error
        } catch {
            throw ErrorResponse.upstream(.badGateway, "The provider's answer could not be read: \(error)", code: "upstream_unreadable")
        }
        return UpstreamAnswer(status: Int(response.status.code), reasonPhrase: response.status.reasonPhrase, headers: response.headers, body: bytes)
    }
}

/// The states of an object that is metered after it is created.
enum ObjectState {
    /// A background response whose usage has not been metered yet.
    static let pending = "pending"
    /// Metered.
    static let metered = "metered"
}
