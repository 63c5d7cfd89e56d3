import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateStore
import Tracing

/// The path of one request: authenticate the virtual key, route, read and prepare the body, forward, and relay the
/// answer through the usage reader. What Tollgate answers itself takes the error shape of the route's family.
///
/// A class: each connection, and each request's forwarding, holds a reference to it rather than a copy (its
/// configuration alone is about 2 KB).
public final class ProxyResponder: HTTPResponder, Sendable {
    public typealias Context = BasicRequestContext

    let config: TollgateConfig
    let routes: RouteResolver
    let meter: MeterStore
    let recorder: EventRecorder
    let admitter: Admitter
    let upstream: UpstreamClient
    let logger: Logger
    let limiter: ConcurrencyLimiter

    /// Creates the responder of the proxy listener.
    public init(
        config: TollgateConfig, routes: RouteResolver, meter: MeterStore, recorder: EventRecorder, admitter: Admitter,
        upstream: UpstreamClient, logger: Logger, limiter: ConcurrencyLimiter? = nil
    ) {
        self.limiter = limiter ?? ConcurrencyLimiter(settings: config.proxy)
        self.config = config
        self.routes = routes
        self.meter = meter
        self.recorder = recorder
        self.admitter = admitter
        self.upstream = upstream
        self.logger = logger
    }

    /// Answers one request (Hummingbird's responder interface, used by tests): see ``respond(to:)``.
    public func respond(to request: Request, context: Context) async throws -> Response {
        await respond(to: request)
    }

    /// Answers one request: `/healthz`, the usage view, or a proxied (metered or passed-through) request.
    public func respond(to request: Request) async -> Response {
        await answer(request).response()
    }

    /// What there is to answer `request` with once it has been authenticated and admitted: a response, or an
    /// inference still to forward. A failure that is not an answer of its own (the meter failing mid-request)
    /// becomes an empty 500, as Hummingbird's server made it. The proxy listener hands the request's body as it
    /// streams in (`body`), read directly rather than through `request`'s type-erased sequence.
    public func answer(_ request: Request) async -> ProxyAnswer { await answer(request, body: nil) }

    func answer(_ request: Request, body: RequestBodyStream?) async -> ProxyAnswer {
        var family = routes.family(guessedFrom: request.uri.path)
        do {
            switch try await route(request, body: body, family: &family) {
            case .response(let response):
                return .response(response)
            case .forward(let forward):
                return .forward { [self, family] done in
                    forward { result in
                        switch result {
                        case .success(let forwarded): done(forwarded)
                        case .failure(let error): done(Forwarded(response: self.failed(request, family: family, error)))
                        }
                    }
                }
            }
        } catch {
            return .response(failed(request, family: family, error))
        }
    }

    /// The response to a request that failed with `error`: the error's own, in the shape of the route's family, or
    /// an empty 500.
    private func failed(_ request: Request, family: WireFamily, _ error: any Error) -> Response {
        if let error = error as? ErrorResponse {
            recorder.observer.refused(code: error.code)
            return error.response(for: family)
        }
        logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
        return Response(status: .internalServerError)
    }

    /// A response, or an admitted inference whose forwarding is still to run.
    enum Answer {
        case response(Response)
        case forward(Forwarding)
    }

    /// Forwards an admitted inference and hands its response (or why there is none) to the closure it is given, from
    /// the event loop that reads the provider's answer: no task waits for the provider meanwhile.
    typealias Forwarding = @Sendable (_ done: @escaping @Sendable (Result<Forwarded, any Error>) -> Void) -> Void

    /// Routes, authenticates and admits `request`; `family` becomes the route's, for the shape of an error.
    private func route(_ request: Request, body stream: RequestBodyStream?, family: inout WireFamily) async throws -> Answer {
        let started = ContinuousClock.now
        let arrival = Date()
        let rawPath = request.uri.path
        if rawPath == "/healthz" || rawPath == "/livez" {
            return .response(Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))))
        }
        if rawPath == "/readyz" { return .response(readiness()) }
        guard let path = RouteResolver.canonicalPath(rawPath) else {
            throw ErrorResponse.badRequest(
                "The path \(rawPath) is not allowed (escaped '/', dot segments or a bad escape).", code: "invalid_path")
        }
        if path == UsageView.path, request.method == .get {
            let principal = try await authenticate(request.headers, query: request.uri.query)
            return .response(
                try await UsageView(meter: meter, currency: config.pricing.currency, rules: recorder.pricing.rules).respond(
                    principal: principal, query: request.uri.query, nowMs: Int64(arrival.timeIntervalSince1970 * 1000)))
        }
        if path == CustomerLimits.path || path.hasPrefix(CustomerLimits.path + "/") {
            let principal = try await authenticate(request.headers, query: request.uri.query)
            var request = request
            let body = try await collectBody(&request, stream: stream, limit: 64 * 1024)
            return .response(
                try await CustomerLimits(meter: meter, currency: config.pricing.currency).respond(
                    principal: principal, method: request.method, path: path, body: body,
                    nowMs: Int64(arrival.timeIntervalSince1970 * 1000)))
        }
        guard let target = routes.resolve(path: path) else {
            if let inactive = routes.inactiveProvider(for: path) {
                throw ErrorResponse.providerInactive(inactive.provider.name, hint: inactive.hint)
            }
            throw ErrorResponse.notFound(
                "Unknown route \(request.method.rawValue) \(path). OpenAI-compatible paths start with /v1/; "
                    + "a provider's own paths with /PROVIDER/ (configured: \(config.providers.keys.sorted().joined(separator: ", "))).")
        }
        family = target.api?.family ?? target.provider.family
        let key = try await authenticate(request.headers, query: request.uri.query)
        // The request holds its place under the key's and the customer's concurrency limits until its response
        // has ended (a relay takes the slot along, for a drain after the client left).
        let slot = try await concurrencySlot(request, target: target, key: key, arrival: arrival, started: started)
        switch try await forward(
            request, body: stream, target: target, path: path, key: key, slot: slot, arrival: arrival, started: started)
        {
        case .response(let response):
            return .response(response.holding(slot))
        case .forward(let forward):
            return .forward { done in forward { done($0.map { $0.holding(slot) }) } }
        }
    }

    /// An authenticated request for `target`: an object route, an inference, or a pass-through.
    private func forward(
        _ request: Request, body stream: RequestBodyStream?, target: RouteResolver.Target, path: String, key: Principal,
        slot: ConcurrencyLimiter.Slot, arrival: Date, started: ContinuousClock.Instant
    ) async throws -> Answer {
        var target = target
        // A `key` parameter is a credential (Gemini's): it never goes upstream, whichever key authenticated.
        target.upstreamQuery = Self.removingKey(from: request.uri.query)
        var request = request
        let body = try await collectBody(
            &request, stream: stream, limit: config.proxy.maxRequestBodyBytes(path: path, api: target.api))
        if target.api == nil || request.method != .post,
            let object = target.provider.family.objects.request(method: request.method.rawValue, path: target.upstreamPath)
        {
            return .response(
                try await objects(request, body: body, object: object, target: target, principal: key, arrival: arrival, started: started))
        }
        if let api = target.api {
            guard request.method == .post else {
                throw ErrorResponse.methodNotAllowed(
                    "\(request.method.rawValue) \(path) is not allowed: it is an inference route (\(api)), which takes POST.",
                    allow: "POST")
            }
            return try await infer(
                request, body: body, target: target, api: api, key: key, slot: slot, arrival: arrival, started: started)
        }
        switch target.provider.passage(method: request.method.rawValue, path: target.upstreamPath) {
        case .free:
            return .response(try await passThrough(request, body: body, target: target, recording: nil))
        case .recorded:
            let context = makeContext(
                request, target: target, route: Self.passThroughRoute, key: key.key, prepared: PreparedRequest(model: nil, stream: false),
                bytes: body.readableBytes, arrival: arrival, started: started)
            return .response(try await passThrough(request, body: body, target: target, recording: context))
        case .refused(let refusal):
            throw ErrorResponse(
                status: HTTPResponse.Status(code: refusal.status), message: refusal.message, type: "invalid_request_error",
                code: refusal.code)
        case .denied:
            throw ErrorResponse.notFound(
                "\(request.method.rawValue) \(path) is not a route of provider '\(target.provider.name)': Tollgate forwards its "
                    + "inference routes and read-only paths such as the model list; an operator can allow more with pass_through.")
        }
    }

    /// A slot under the concurrency limits of the key and its customer, or the 429 (recorded as an event).
    private func concurrencySlot(
        _ request: Request, target: RouteResolver.Target, key: Principal, arrival: Date, started: ContinuousClock.Instant
    ) async throws -> ConcurrencyLimiter.Slot {
        do {
            return try limiter.acquire(key: key.key.id, customer: key.customer)
        } catch {
            let context = makeContext(
                request, target: target, route: target.api?.rawValue ?? Self.passThroughRoute, key: key.key,
                prepared: PreparedRequest(model: nil, stream: false), bytes: 0, arrival: arrival, started: started)
            try await recorder.record(context, ResponseOutcome(status: 429, upstreamFailure: "refused: \(error.message)"))
            throw error.recorded(as: context.id)
        }
    }

    private func authenticate(_ headers: HTTPFields, query: String?) async throws -> Principal {
        guard let (secret, _) = Self.presentedKey(headers, query: query) else {
            throw ErrorResponse.unauthorized(
                "You didn't provide an API key. Send your Tollgate virtual key as 'Authorization: Bearer tg_…' "
                    + "(or in \(Self.otherKeyLocations)).")
        }
        let key: Principal?
        do {
            key = try meter.principal(secret: secret)
        } catch {
            logger.error("key lookup failed", metadata: ["error": "\(error)"])
            throw ErrorResponse(status: .serviceUnavailable, message: "The meter is unavailable.", type: "server_error", code: "meter_unavailable")
        }
        guard let key else {
            throw ErrorResponse.unauthorized("Incorrect API key provided: \(Self.redacted(secret)). It is unknown or revoked.")
        }
        return key
    }

    /// The virtual key where some family's SDK sends its key (``WireFamilies/keyLocations``: `Authorization: Bearer`,
    /// the access key id of an AWS SigV4 `Authorization`, `x-api-key`, `x-goog-api-key`, `api-key`, `?key=` …).
    /// `inQuery` says it came in the query (which loses every `key` parameter before going upstream anyway).
    static func presentedKey(_ headers: HTTPFields, query: String? = nil) -> (secret: String, inQuery: Bool)? {
        for location in WireFamilies.keyLocations {
            switch location {
            case .bearer:
                guard let value = headers.value(of: .authorization) else { continue }
                if let secret = bearerToken(value) { return (secret, false) }
                let parts = value.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "bearer" else { continue }
                return (String(parts[1].trimmingASCIISpaces), false)
            case .awsAccessKeyID:
                // `AWS4-HMAC-SHA256 Credential=tg_…/DATE/REGION/bedrock/aws4_request, SignedHeaders=…, Signature=…`
                guard let parts = headers.value(of: .authorization)?.split(separator: " ", maxSplits: 1), parts.count == 2,
                    parts[0] == "AWS4-HMAC-SHA256", let range = parts[1].range(of: "Credential=")
                else { continue }
                let keyID = parts[1][range.upperBound...].prefix { $0 != "/" && $0 != "," && $0 != " " }
                if !keyID.isEmpty { return (String(keyID), false) }
            case .header(let name):
                if let fieldName = HTTPField.Name(name), let value = headers.value(of: fieldName) { return (value, false) }
            case .query(let name):
                if let value = Provider.queryValue(name, in: query), !value.isEmpty {
                    return (value.removingPercentEncoding ?? value, true)
                }
            }
        }
        return nil
    }

    /// The token of the usual `Authorization: Bearer <token>` (`Bearer` or `bearer`, one space, then printable ASCII
    /// without spaces), read by its bytes; `nil` for any other spelling, which ``presentedKey(_:query:)`` reads the
    /// long way, to the same result for this one.
    private static func bearerToken(_ value: String) -> String? {
        let bytes = value.utf8
        guard bytes.count > 7, bytes.starts(with: "Bearer ".utf8) || bytes.starts(with: "bearer ".utf8) else { return nil }
        let token = bytes.dropFirst(7)
        guard token.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return String(Substring(token))
    }

    /// `x-api-key, api-key, x-goog-api-key or ?key=`: where else a key is accepted, for the 401 message.
    static let otherKeyLocations: String = {
        let names = WireFamilies.keyLocations.compactMap { location -> String? in
            switch location {
            case .bearer, .awsAccessKeyID: return nil
            case .header(let name): return name
            case .query(let name): return "?\(name)="
            }
        }
        return names.dropLast().joined(separator: ", ") + (names.count > 1 ? " or " : "") + (names.last ?? "")
    }()

    /// The query without its `key` parameters (a Gemini client's key, which must not reach the provider).
    static func removingKey(from query: String?) -> String? {
        guard let query else { return nil }
        let kept = query.split(separator: "&").filter { !($0 == "key" || $0.hasPrefix("key=")) }
        return kept.isEmpty ? nil : kept.joined(separator: "&")
    }

    /// `tg_abc…xyz`: enough to recognise a key in a message, not enough to use it.
    static func redacted(_ secret: String) -> String {
        secret.count <= 10 ? "***" : "\(secret.prefix(6))…\(secret.suffix(3))"
    }

    /// The whole body, from `stream` when there is one (the body then becomes `request`'s, as Hummingbird's
    /// `collectBody` leaves it).
    private func collectBody(_ request: inout Request, stream: RequestBodyStream?, limit: Int) async throws -> ByteBuffer {
        do {
            guard let stream else { return try await request.collectBody(upTo: limit) }
            let body = try await stream.collect(upTo: limit)
            request.body = RequestBody(buffer: body)
            return body
        } catch let error as RequestBodyIncomplete {
            throw ErrorResponse.badRequest("The request body is incomplete: \(error).", code: "incomplete_body")
        } catch {
            throw ErrorResponse(
                status: .contentTooLarge, message: "The request body exceeds \(limit) bytes.",
                type: "invalid_request_error", code: "request_too_large")
        }
    }

    /// `/readyz`: 200 while this process can serve inferences, 503 with the failing check's reason while it cannot: the
    /// meter must be able to write events (requests are refused meanwhile) and at least one provider must be active
    /// with its credentials. A refused config reload is reported, and does not make the process unready: the last good
    /// config serves.
    private func readiness() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        var checks = ["meter": "ok", "config": "ok", "providers": "ok"]
        if let failure = recorder.meterFailure { checks["meter"] = failure }
        if !config.providers.values.contains(where: \.hasCredentials) {
            checks["providers"] =
                config.providers.isEmpty
                ? "no provider is active: set a provider's API key (OPENAI_API_KEY …) or list providers in the config"
                : "no active provider has its credentials: \(config.providers.keys.sorted().joined(separator: ", "))"
        }
        let ready = checks.values.allSatisfy { $0 == "ok" }
        var document: [String: JSONValue] = ["ready": .boolean(ready), "checks": .object(checks.mapValues(JSONValue.string))]
        if let failure = recorder.pricing.reloadFailure { document["config_reload"] = .string(failure) }
        return Response(
            status: ready ? .ok : .serviceUnavailable, headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONValue.object(document).text + [UInt8(ascii: "\n")])))
    }

    /// Fails closed: while the meter cannot write, an inference is refused before it reaches the provider (unless the
    /// operator chose `meter.on_failure: serve`).
    func requireWritableMeter() throws {
        guard config.meter.onFailure == .refuse, let failure = recorder.meterFailure else { return }
        var error = ErrorResponse(
            status: .serviceUnavailable,
            message: "Tollgate cannot record usage right now, so it does not forward inference requests; retry shortly.",
            type: "server_error", code: "meter_unavailable")
        error.headers[.retryAfter] = "1"
        logger.warning("inference refused: the meter cannot write", metadata: ["reason": "\(failure)"])
        throw error
    }

    private func infer(
        _ request: Request, body: ByteBuffer, target: RouteResolver.Target, api: APIName, key principal: Principal,
        slot: ConcurrencyLimiter.Slot, arrival: Date, started: ContinuousClock.Instant
    ) async throws -> Answer {
        try requireWritableMeter()
        let key = principal.key
        let bytes = Array(body.readableBytesView)
        var target = target
        var prepared: PreparedRequest
        func options(_ target: RouteResolver.Target, upstreamModel: String? = nil) -> RequestOptions {
            RequestOptions(
                acceptsStreamUsageOption: target.provider.acceptsStreamUsageOption(query: target.upstreamQuery), upstreamModel: upstreamModel,
                path: target.upstreamPath, query: target.upstreamQuery, contentType: request.headers.value(of: .contentType))
        }
        do {
            prepared = try api.wireFormat.prepare(body: bytes, options: options(target))
            let aliased = routes.applyingAlias(to: target, model: prepared.model)
            if aliased.target.provider.name != target.provider.name || aliased.upstreamModel != nil {
                let query = target.upstreamQuery
                target = aliased.target
                target.upstreamQuery = query
                prepared = try api.wireFormat.prepare(body: bytes, options: options(target, upstreamModel: aliased.upstreamModel))
            }
            // An Azure deployment decides the model, whatever the body names: it is what the provider serves and bills.
            if let deployed = target.provider.modelFromPath(target.upstreamPath) { prepared.model = deployed }
        } catch {
            let context = makeContext(
                request, target: target, route: api.rawValue, key: key, prepared: PreparedRequest(model: nil, stream: false), bytes: bytes.count,
                arrival: arrival, started: started)
            try await recorder.record(context, ResponseOutcome(status: 400, upstreamFailure: "refused: \(error)"))
            throw ErrorResponse.badRequest(error.description, code: error.code).recorded(as: context.id)
        }
        if let inactive = routes.inactiveAliasProvider(for: target, model: prepared.model) {
            throw ErrorResponse.providerInactive(inactive.provider.name, hint: inactive.hint)
        }
        var context = makeContext(
            request, target: target, route: api.rawValue, key: key, prepared: prepared, bytes: bytes.count, arrival: arrival, started: started)
        context.missingUsage = config.pricing.missingUsage
        let ownership = try await objectOwnership(api: api, target: target, principal: principal, prepared: prepared, context: &context)
        if let replay = try await claimIdempotencyKey(request, body: body, target: target, context: &context) { return .response(replay) }
        do {
            let admission = try await admitter.admit(
                principal, provider: target.provider, request: prepared, requestBytes: bytes.count, nowMs: Int64(arrival.timeIntervalSince1970 * 1000)
            )
            context.ticket = admission.ticket
            context.worstCase = admission.worstCase
            recorder.observer.admission(admitted: true)
        } catch {
            recorder.observer.admission(admitted: false)
            try await recorder.record(context, ResponseOutcome(status: error.reason.status, upstreamFailure: "refused: \(error.message)"))
            throw error.errorResponse.recorded(as: context.id)
        }
        let upstreamBody = prepared.rewrittenBody.map { ByteBuffer(bytes: $0) } ?? body
        return .forward { [self, target, prepared, context] done in
            forwardAdmitted(
                request, body: upstreamBody, target: target, api: api, prepared: prepared, context: context, ownership: ownership,
                slot: slot, done: done)
        }
    }

    /// Forwards an admitted inference and relays its answer through the usage reader; `done` gets the response once
    /// the provider's head has arrived (or the refusal, recorded, if the provider could not be asked or reached).
    private func forwardAdmitted(
        _ request: Request, body upstreamBody: ByteBuffer, target: RouteResolver.Target, api: APIName, prepared: PreparedRequest,
        context: InferenceContext, ownership: ObjectOwnership?, slot: ConcurrencyLimiter.Slot,
        done: @escaping @Sendable (Result<Forwarded, any Error>) -> Void
    ) {
        let upstreamStarted = ContinuousClock.now
        let outgoing: UpstreamRequest
        do {
            outgoing = try upstreamRequest(
                method: request.method, headers: request.headers, body: upstreamBody, target: target,
                forceIdentity: prepared.injectedStreamUsage, idempotencyKey: context.idempotency?.upstreamKey, span: context.span)
        } catch {
            return refused(error, context: context, upstreamStarted: upstreamStarted, done: done)
        }
        upstream.start(outgoing).whenComplete { [self] result in
            switch result {
            case .success(let response):
                let answer = relayed(
                    response, target: target, api: api, prepared: prepared, context: context, ownership: ownership, slot: slot,
                    upstreamStarted: upstreamStarted)
                done(.success(answer))
            case .failure(let error):
                refused(upstreamFailure(error, provider: target.provider), context: context, upstreamStarted: upstreamStarted, done: done)
            }
        }
    }

    /// Records an inference the provider could not be asked or could not answer, then hands `done` the refusal.
    private func refused(
        _ error: ErrorResponse, context: InferenceContext, upstreamStarted: ContinuousClock.Instant,
        done: @escaping @Sendable (Result<Forwarded, any Error>) -> Void
    ) {
        Task { [recorder] in
            do {
                try await recorder.record(
                    context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
                done(.failure(error.recorded(as: context.id)))
            } catch {
                done(.failure(error))
            }
        }
    }

    /// The client's response to a provider's answer: its head at once, its body relayed through the usage reader.
    private func relayed(
        _ response: UpstreamResponse, target: RouteResolver.Target, api: APIName, prepared: PreparedRequest, context: InferenceContext,
        ownership: ObjectOwnership?, slot: ConcurrencyLimiter.Slot, upstreamStarted: ContinuousClock.Instant
    ) -> Forwarded {
        var context = context
        context.requestID = Self.providerRequestID(response.headers)
        let contentType = response.headers.first(name: "content-type")
        let format = api.wireFormat
        var reader = format.makeReader(for: prepared, contentType: contentType) { response.headers.first(name: $0) }
        if ownership != nil { reader = ObjectIDCapture(inner: reader, stream: isEventStream(contentType)) }
        let tap = MeteringTap(reader: reader, contentEncoding: response.headers.first(name: "content-encoding"))
        let rewrites = tap.reader.rewrites
        var headers = HeaderPolicy.client(
            from: response.headers, provider: target.provider, bodyRewritten: rewrites || tap.forwardsDecoded, bodyDecoded: tap.forwardsDecoded)
        headers[Self.eventIDField] = context.id
        let relay = RelayGuard(
            ResponseRelay(
                context: context, status: Int(response.status.code), body: response.body, tap: tap,
                clientGetsEventStream: isEventStreamBody(contentType), recorder: recorder,
                upstreamStarted: upstreamStarted, drainSeconds: config.proxy.disconnectDrainSeconds, logger: logger,
                objectOwnership: ownership, capture: context.idempotency.map { ResponseCapture(headers: headers, limit: $0.maxResponseBytes) },
                slot: slot))
        let length = rewrites || tap.forwardsDecoded ? nil : response.headers.first(name: "content-length").flatMap(Int.init)
        return Forwarded(
            response: Response(
                status: HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
                headers: headers, body: ResponseBody(contentLength: length) { writer in try await relay.run(writer: &writer) }),
            relay: relay)
    }

    /// Claims the request's `Idempotency-Key`, if it has one. Returns the replay of an earlier response with the key
    /// (recorded as an event of its own that charges nothing), or `nil` when the request goes on, holding the key;
    /// throws (recorded) when it may not (the key in use or reused, see ``IdempotentRetries``).
    func claimIdempotencyKey(
        _ request: Request, body: ByteBuffer, target: RouteResolver.Target, context: inout InferenceContext
    ) async throws -> Response? {
        do {
            guard let key = try IdempotentRetries.key(in: request.headers) else { return nil }
            let retries = IdempotentRetries(meter: meter, settings: config.idempotency, instance: admitter.control.instanceID)
            let hash = IdempotentRetries.requestHash(
                method: request.method.rawValue, path: target.upstreamPath, query: target.upstreamQuery,
                contentType: request.headers.value(of: .contentType), body: body)
            switch try await retries.claim(key: key, customer: context.key.customer, requestHash: hash, eventID: context.id) {
            case .proceed(let claimed):
                context.idempotency = claimed
                return nil
            case .replay(let original, let stored):
                var replay = context
                replay.replayOf = original
                try await recorder.record(replay, ResponseOutcome(status: stored.status))
                return IdempotentRetries.response(replaying: stored, original: original, eventID: context.id)
            }
        } catch let error as ErrorResponse {
            try await recorder.record(context, ResponseOutcome(status: Int(error.status.code), upstreamFailure: "refused: \(error.message)"))
            throw error.recorded(as: context.id)
        }
    }

    /// `x-tollgate-event-id`: the id of the event a metered response is recorded under, for the client's logs.
    static let eventIDField = HTTPField.Name("x-tollgate-event-id")!

    /// The provider's request id, from the first of the families' request-id headers present
    /// (``WireFamilies/requestIDHeaders``).
    static func providerRequestID(_ headers: HTTPHeaders) -> String? {
        for name in WireFamilies.requestIDHeaders {
            if let value = headers.first(name: name), !value.isEmpty { return String(value.prefix(200)) }
        }
        return nil
    }

    func makeContext(
        _ request: Request, target: RouteResolver.Target, route: String, key: VirtualKey, prepared: PreparedRequest, bytes: Int,
        arrival: Date, started: ContinuousClock.Instant
    ) -> InferenceContext {
        var context = InferenceContext(
            id: UsageEvent.newID(at: arrival), arrival: arrival, started: started, key: key, provider: target.provider, route: route,
            metered: route != Self.passThroughRoute,
            path: request.uri.path, request: prepared, requestBytes: bytes,
            feature: HeaderPolicy.dimension(HeaderPolicy.feature, in: request.headers),
            endUser: HeaderPolicy.dimension(HeaderPolicy.endUser, in: request.headers),
            project: HeaderPolicy.dimension(HeaderPolicy.project, in: request.headers),
            idempotencyKey: HeaderPolicy.dimension(HeaderPolicy.idempotencyKey, in: request.headers))
        context.span = recorder.observer.tracing.startSpan(route: route, model: prepared.model, headers: request.headers)
        return context
    }

    /// Forwards a request to the provider; failures to reach it become 502/504 (in the route family's error shape, by the caller).
    func send(
        _ request: Request, body: ByteBuffer, target: RouteResolver.Target, forceIdentity: Bool, span: (any Span)? = nil
    ) async throws -> UpstreamResponse {
        try await send(method: request.method, headers: request.headers, body: body, target: target, forceIdentity: forceIdentity, span: span)
    }

    /// Forwards `method` with the client's `headers` (less what ``HeaderPolicy`` drops) to the target.
    func send(
        method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer, target: RouteResolver.Target, forceIdentity: Bool,
        idempotencyKey: String? = nil, span: (any Span)? = nil
    ) async throws -> UpstreamResponse {
        let outgoing = try upstreamRequest(
            method: method, headers: headers, body: body, target: target, forceIdentity: forceIdentity, idempotencyKey: idempotencyKey,
            span: span)
        do {
            return try await upstream.execute(outgoing)
        } catch {
            throw upstreamFailure(error, provider: target.provider)
        }
    }

    /// The request that goes to the provider for `method` with the client's `headers` (less what ``HeaderPolicy``
    /// drops), signed if the provider wants it; throws when the provider has no credentials to send.
    private func upstreamRequest(
        method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer, target: RouteResolver.Target, forceIdentity: Bool,
        idempotencyKey: String?, span: (any Span)?
    ) throws(ErrorResponse) -> UpstreamRequest {
        let provider = target.provider
        if !provider.hasCredentials {
            throw ErrorResponse.upstream(
                .internalServerError,
                provider.auth == .sigv4
                    ? "Provider '\(provider.name)' has no credentials configured: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                        + "or a Bedrock API key in \(provider.apiKeyEnv ?? "api_key")."
                    : "Provider '\(provider.name)' has no API key configured\(provider.apiKeyEnv.map { ": set \($0)" } ?? "").",
                code: "provider_key_missing")
        }
        var outgoing = UpstreamRequest(url: provider.baseURL + target.upstreamPath + (target.upstreamQuery.map { "?\($0)" } ?? ""))
        outgoing.method = .init(rawValue: method.rawValue)
        outgoing.headers = HeaderPolicy.upstream(from: headers, provider: provider, forceIdentityEncoding: forceIdentity)
        // A customer's Idempotency-Key never reaches the provider as it is: an idempotent request carries one derived
        // from the customer and the key (``IdempotentRetries/upstreamKey(customer:key:)``).
        outgoing.headers.remove(name: "idempotency-key")
        if let idempotencyKey { outgoing.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        recorder.observer.tracing.inject(span, into: &outgoing.headers)
        if provider.auth == .sigv4, provider.apiKey == nil, let credentials = provider.aws {
            UpstreamSigning.sign(
                &outgoing, baseURL: provider.baseURL, path: target.upstreamPath, query: target.upstreamQuery, body: body, credentials: credentials)
        }
        if body.readableBytes > 0 || method == .post { outgoing.body = body }
        return outgoing
    }

    /// The answer to a request the provider could not take: 504 when it did not answer in time, else 502.
    private func upstreamFailure(_ error: any Error, provider: Provider) -> ErrorResponse {
        if let error = error as? UpstreamError, error == .readTimeout || error == .connectTimeout {
            return ErrorResponse.upstream(.gatewayTimeout, "Provider '\(provider.name)' did not answer in time.", code: "upstream_timeout")
        }
        logger.warning(
            "upstream unreachable", metadata: ["provider": "\(provider.name)", "error": "\(redacted(error, secret: provider.apiKey))"])
        return ErrorResponse.upstream(.badGateway, "Provider '\(provider.name)' could not be reached.", code: "upstream_unreachable")
    }

    /// An error's text with the provider key blanked out, should a library have quoted it.
    private func redacted(_ error: any Error, secret: String?) -> String {
        let text = "\(error)"
        guard let secret, !secret.isEmpty else { return text }
        return text.replacingOccurrences(of: secret, with: "[provider key]")
    }

    /// The `route` of the event of a request an operator allowed through unmetered.
    static let passThroughRoute = "pass_through"

    /// A path that is not an inference but may go through (a model list, token counting, or what the operator allowed):
    /// forwarded unmetered, still behind a virtual key. With `recording`, an event with its path and status is recorded
    /// once the response has been relayed.
    func passThrough(
        _ request: Request, body: ByteBuffer, target: RouteResolver.Target, recording context: InferenceContext?
    ) async throws -> Response {
        let upstreamStarted = ContinuousClock.now
        let response: UpstreamResponse
        do {
            response = try await send(request, body: body, target: target, forceIdentity: false, span: context?.span)
        } catch let error as ErrorResponse {
            guard let context else { throw error }
            try await recorder.record(
                context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
            throw error.recorded(as: context.id)
        }
        var headers = HeaderPolicy.client(from: response.headers, provider: target.provider, bodyRewritten: false, bodyDecoded: false)
        if let context { headers[Self.eventIDField] = context.id }
        let length = response.headers.first(name: "content-length").flatMap(Int.init)
        let upstreamBody = response.body
        let status = Int(response.status.code)
        let recorder = self.recorder
        return Response(
            status: HTTPResponse.Status(code: status, reasonPhrase: response.status.reasonPhrase),
            headers: headers,
            body: ResponseBody(contentLength: length) { writer in
                var outcome = ResponseOutcome(status: status, upstreamStarted: upstreamStarted)
                do {
                    for try await piece in upstreamBody { try await writer.write(piece) }
                } catch {
                    outcome.upstreamFailure = "pass-through body broken off: \(error)"
                }
                outcome.upstreamEnded = .now
                if let context { try await recorder.record(context, outcome) }
                if outcome.upstreamFailure != nil { throw UpstreamBrokeOff() }
                try await writer.finish(nil)
            })
    }
}

/// What the proxy has for a request once it has been authenticated and admitted: its response, or an inference still
/// to forward.
///
/// Forwarding waits for the provider (seconds, for a model that thinks, and the whole answer for a stream), so no task
/// waits for it: the task that authenticated and admitted the request writes it upstream and ends, and the provider's
/// head comes back to a closure on the event loop; the proxy listener then relays the body in a task of its own. A task
/// keeps the memory of its deepest frames until it ends, and authentication and admission go far deeper than the relay
/// (thousands of concurrent streams each held that memory while they waited for their providers).
public enum ProxyAnswer: Sendable {
    case response(Response)
    /// The admitted inference: forwards it and hands the response, whose body relays the provider's answer, to the
    /// closure it is given (from the event loop that reads the provider's head: no task waits meanwhile).
    case forward(@Sendable (_ done: @escaping @Sendable (Forwarded) -> Void) -> Void)

    /// The response, forwarding first if need be.
    public func response() async -> Response {
        switch self {
        case .response(let response): return response
        case .forward(let forward):
            return await withCheckedContinuation { answered in forward { answered.resume(returning: $0.response) } }
        }
    }
}

/// A forwarded inference's response: its body relays the provider's answer when written. The proxy listener may drive
/// the `relay` on its event loop instead of writing the body (``LoopRelay``).
public struct Forwarded: Sendable {
    public var response: Response
    /// The relay behind the response's body (`nil`: the body is not a relay, as for a refusal).
    let relay: RelayGuard?

    init(response: Response, relay: RelayGuard? = nil) {
        self.response = response
        self.relay = relay
    }

    /// The same, its body holding `slot` until it has been written (a relay holds its own).
    func holding(_ slot: ConcurrencyLimiter.Slot) -> Forwarded {
        Forwarded(response: response.holding(slot), relay: relay)
    }
}
