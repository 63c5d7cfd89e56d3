import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TollgateCore
import TollgateStore

/// The path of one request: authenticate the virtual key, route, read and prepare the body, forward, and relay the
/// answer through the meter. Everything Tollgate answers itself is in OpenAI's error shape.
struct ProxyResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let config: TollgateConfig
    let routes: RouteResolver
    let meter: Meter
    let recorder: EventRecorder
    let upstream: UpstreamClient
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let arrival = Date()
        let rawPath = request.uri.path
        if rawPath == "/healthz" { return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        do {
            guard let path = RouteResolver.canonicalPath(rawPath) else {
                throw ErrorResponse.badRequest(
                    "The path \(rawPath) is not allowed (escaped '/', dot segments or a bad escape).", code: "invalid_path")
            }
            guard let target = routes.resolve(path: path) else {
                throw ErrorResponse.notFound(
                    "Unknown route \(request.method.rawValue) \(path). OpenAI-compatible paths start with /v1/; "
                        + "a provider's own paths with /PROVIDER/ (configured: \(config.providers.keys.sorted().joined(separator: ", "))).")
            }
            let key = try await authenticate(request.headers)
            var request = request
            let body = try await collectBody(&request)
            guard let api = target.api, request.method == .post else {
                return try await passThrough(request, body: body, target: target)
            }
            return try await infer(
                request, body: body, target: target, api: api, key: key, arrival: arrival, started: started)
        } catch let error as ErrorResponse {
            return error.response
        }
    }

    private func authenticate(_ headers: HTTPFields) async throws -> VirtualKey {
        guard let secret = Self.presentedKey(headers) else {
            throw ErrorResponse.unauthorized(
                "You didn't provide an API key. Send your Tollgate virtual key as 'Authorization: Bearer tg_…'.")
        }
        let key: VirtualKey?
        do {
            key = try meter.authenticate(secret: secret)
        } catch {
            logger.error("key lookup failed", metadata: ["error": "\(error)"])
            throw ErrorResponse(status: .serviceUnavailable, message: "The meter is unavailable.", type: "server_error", code: "meter_unavailable")
        }
        guard let key else {
            throw ErrorResponse.unauthorized("Incorrect API key provided: \(Self.redacted(secret)). It is unknown or revoked.")
        }
        return key
    }

    /// The virtual key from `Authorization: Bearer`, `x-api-key` or `api-key`.
    static func presentedKey(_ headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        for name in ["x-api-key", "api-key"] {
            if let fieldName = HTTPField.Name(name), let value = headers[fieldName] { return value }
        }
        return nil
    }

    /// `tg_abc…xyz`: enough to recognise a key in a message, not enough to use it.
    static func redacted(_ secret: String) -> String {
        secret.count <= 10 ? "***" : "\(secret.prefix(6))…\(secret.suffix(3))"
    }

    private func collectBody(_ request: inout Request) async throws -> ByteBuffer {
        do {
            return try await request.collectBody(upTo: config.proxy.maxRequestBodyBytes)
        } catch {
            throw ErrorResponse(
                status: .contentTooLarge, message: "The request body exceeds \(config.proxy.maxRequestBodyBytes) bytes.",
                type: "invalid_request_error", code: "request_too_large")
        }
    }

    private func infer(
        _ request: Request, body: ByteBuffer, target: RouteResolver.Target, api: APIName, key: VirtualKey, arrival: Date,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        let bytes = Array(body.readableBytesView)
        var target = target
        var prepared: PreparedRequest
        do {
            prepared = try api.wireFormat.prepare(
                body: bytes, options: RequestOptions(acceptsStreamUsageOption: target.provider.acceptsStreamUsageOption))
            let aliased = routes.applyingAlias(to: target, model: prepared.model)
            if aliased.target.provider.name != target.provider.name || aliased.upstreamModel != nil {
                target = aliased.target
                prepared = try api.wireFormat.prepare(
                    body: bytes,
                    options: RequestOptions(
                        acceptsStreamUsageOption: target.provider.acceptsStreamUsageOption, upstreamModel: aliased.upstreamModel))
            }
        } catch {
            let context = makeContext(
                request, target: target, api: api, key: key, prepared: PreparedRequest(model: nil, stream: false), bytes: bytes.count,
                arrival: arrival, started: started)
            try await recorder.record(context, ResponseOutcome(status: 400, upstreamFailure: "refused: \(error)"))
            throw ErrorResponse.badRequest(error.description, code: "invalid_json")
        }
        let context = makeContext(
            request, target: target, api: api, key: key, prepared: prepared, bytes: bytes.count, arrival: arrival, started: started)
        let upstreamBody = prepared.rewrittenBody.map { ByteBuffer(bytes: $0) } ?? body
        let upstreamStarted = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            response = try await send(request, body: upstreamBody, target: target, forceIdentity: prepared.injectedStreamUsage)
        } catch let error as ErrorResponse {
            try await recorder.record(
                context, ResponseOutcome(status: Int(error.status.code), upstreamStarted: upstreamStarted, upstreamFailure: error.message))
            throw error
        }
        let contentType = response.headers.first(name: "content-type")
        let format = api.wireFormat
        let tap = MeteringTap(
            meter: format.makeMeter(for: prepared, contentType: contentType), contentEncoding: response.headers.first(name: "content-encoding"))
        let rewrites = tap.meter.rewrites
        let headers = HeaderPolicy.client(from: response.headers, bodyRewritten: rewrites || tap.forwardsDecoded, bodyDecoded: tap.forwardsDecoded)
        let relay = RelayGuard(
            ResponseRelay(
                context: context, status: Int(response.status.code), body: response.body, tap: tap,
                clientGetsEventStream: isEventStream(contentType), recorder: recorder,
                upstreamStarted: upstreamStarted, drainSeconds: config.proxy.disconnectDrainSeconds, logger: logger))
        let length = rewrites || tap.forwardsDecoded ? nil : response.headers.first(name: "content-length").flatMap(Int.init)
        return Response(
            status: HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
            headers: headers, body: ResponseBody(contentLength: length) { writer in try await relay.run(writer: &writer) })
    }

    private func makeContext(
        _ request: Request, target: RouteResolver.Target, api: APIName, key: VirtualKey, prepared: PreparedRequest, bytes: Int,
        arrival: Date, started: ContinuousClock.Instant
    ) -> InferenceContext {
        InferenceContext(
            id: UsageEvent.newID(at: arrival), arrival: arrival, started: started, key: key, provider: target.provider, api: api,
            path: request.uri.path, request: prepared, requestBytes: bytes,
            feature: HeaderPolicy.dimension("x-tollgate-feature", in: request.headers),
            endUser: HeaderPolicy.dimension("x-tollgate-end-user", in: request.headers),
            project: HeaderPolicy.dimension("x-tollgate-project", in: request.headers),
            idempotencyKey: HeaderPolicy.dimension("idempotency-key", in: request.headers))
    }

    /// Forwards a request to the provider; failures to reach it become 502/504 in OpenAI's error shape.
    private func send(_ request: Request, body: ByteBuffer, target: RouteResolver.Target, forceIdentity: Bool) async throws -> HTTPClientResponse {
        let provider = target.provider
        if provider.apiKey == nil, provider.auth != .none {
            throw ErrorResponse.upstream(
                .internalServerError,
                "Provider '\(provider.name)' has no API key configured\(provider.apiKeyEnv.map { ": set \($0)" } ?? "").",
                code: "provider_key_missing")
        }
        var outgoing = HTTPClientRequest(url: provider.baseURL + target.upstreamPath + (request.uri.query.map { "?\($0)" } ?? ""))
        outgoing.method = .init(rawValue: request.method.rawValue)
        outgoing.headers = HeaderPolicy.upstream(from: request.headers, provider: provider, forceIdentityEncoding: forceIdentity)
        if body.readableBytes > 0 || request.method == .post { outgoing.body = .bytes(body) }
        do {
            return try await upstream.execute(outgoing)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw ErrorResponse.upstream(.gatewayTimeout, "Provider '\(provider.name)' did not answer in time.", code: "upstream_timeout")
        } catch {
            logger.warning(
                "upstream unreachable", metadata: ["provider": "\(provider.name)", "error": "\(redacted(error, secret: provider.apiKey))"])
            throw ErrorResponse.upstream(.badGateway, "Provider '\(provider.name)' could not be reached.", code: "upstream_unreachable")
        }
    }

    /// An error's text with the provider key blanked out, should a library have quoted it.
    private func redacted(_ error: any Error, secret: String?) -> String {
        let text = "\(error)"
        guard let secret, !secret.isEmpty else { return text }
        return text.replacingOccurrences(of: secret, with: "[provider key]")
    }

    /// Paths that are not inferences (model lists, files, …) go through unmetered, still behind a virtual key.
    private func passThrough(_ request: Request, body: ByteBuffer, target: RouteResolver.Target) async throws -> Response {
        let response = try await send(request, body: body, target: target, forceIdentity: false)
        let headers = HeaderPolicy.client(from: response.headers, bodyRewritten: false, bodyDecoded: false)
        let length = response.headers.first(name: "content-length").flatMap(Int.init)
        let upstreamBody = response.body
        return Response(
            status: HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase),
            headers: headers,
            body: ResponseBody(contentLength: length) { writer in
                for try await piece in upstreamBody { try await writer.write(piece) }
                try await writer.finish(nil)
            })
    }
}
