import AsyncHTTPClient
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
import TollgateCore

@testable import TollgateGateway
@testable import TollgateStore

// Shared helpers of the request-path tests: the gateway assembled as `tollgate serve` assembles it, a scripted
// provider on the loopback, OpenAI's wire bodies, and the synchronisation that lets a test say "while the commit is
// held" or "once the relay is stuck" without sleeping.

// MARK: - Waiting without sleeping

/// Waiting on a ``Watched`` value took longer than its deadline: the behaviour under test did not happen.
struct TimedOut: Error, CustomStringConvertible {
    let description: String
}

/// A value shared by the request path and a test, which the test waits on until it meets a condition.
///
/// Synchronisation instead of sleeps: a wait ends the moment the value changes to what it waits for. The deadline only
/// turns a broken behaviour into a failed test rather than a hung one; a passing test never reaches it.
final class Watched<Value: Sendable>: Sendable {
    private struct Waiter {
        let condition: @Sendable (Value) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var value: Value
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
    }

    private let state: Mutex<State>

    init(_ value: Value) { state = Mutex(State(value: value)) }

    /// The value now.
    var value: Value { state.withLock { $0.value } }

    /// Changes the value and wakes the waits whose condition now holds.
    func update(_ change: (inout Value) -> Void) {
        let ready = state.withLock { state in
            change(&state.value)
            let value = state.value
            let met = state.waiters.filter { $0.value.condition(value) }
            for id in met.keys { state.waiters[id] = nil }
            return met.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume() }
    }

    /// Returns the value once `condition` holds; throws ``TimedOut`` (naming `what`) after `timeout`.
    @discardableResult
    func wait(
        for what: String, timeout: Duration = .seconds(10), until condition: @escaping @Sendable (Value) -> Bool
    ) async throws -> Value {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.wait(until: condition) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut(description: "timed out after \(timeout) waiting for \(what)")
            }
            try await group.next()
            group.cancelAll()
        }
        return value
    }

    private func wait(until condition: @escaping @Sendable (Value) -> Bool) async throws {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if condition(state.value) { return .success(()) }
                    state.waiters[id] = Waiter(condition: condition, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// Runs the tasks of a request under test on a queue of its own and counts the jobs not yet run, so that a test can
/// wait until the request is stuck (every one of its tasks suspended or finished) instead of guessing with a sleep.
///
/// A task runs on it by preference (`Task(executorPreference:)`); its child tasks inherit the preference.
final class CountingExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "tollgate.tests.request")
    /// Jobs enqueued and not yet run to their next suspension.
    let unfinished = Watched(0)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        unfinished.update { $0 += 1 }
        queue.async {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
            self.unfinished.update { $0 -= 1 }
        }
    }

    /// Returns once no task on this executor can run: each is suspended (waiting on something outside) or done.
    func idle() async throws {
        try await unfinished.wait(for: "the request's tasks to be suspended") { $0 == 0 }
    }
}

// MARK: - The meter's commits

/// The test's hold on the meter writer's commits (``EventWriter``'s `beforeCommit` seam): each batch that reaches its
/// transaction is noted, then waits while the gate is closed.
final class CommitGate: Sendable {
    /// The events of every batch that reached its commit, in order (committed, or held while the gate is closed).
    let reached = Watched<[UsageEvent]>([])
    private let isOpen: Watched<Bool>

    init(open: Bool) { isOpen = Watched(open) }

    /// Lets held and later batches commit.
    func open() { isOpen.update { $0 = true } }

    /// The writer's `beforeCommit`. A gate the test never opens holds a batch for at most a minute, so that a failed
    /// test cannot stop the writer from ending.
    func pass(_ batch: [UsageEvent]) async {
        reached.update { $0 += batch }
        _ = try? await isOpen.wait(for: "the commit gate to open", timeout: .seconds(60)) { $0 }
    }

    /// Returns once `count` events have reached their commit.
    @discardableResult
    func waitForEvents(_ count: Int = 1) async throws -> [UsageEvent] {
        try await reached.wait(for: "\(count) event(s) to reach the meter's commit") { $0.count >= count }
    }
}

// MARK: - The gateway

/// Tollgate's request path assembled as `tollgate serve` assembles it (`TollgateServer.run`: meter, event writer,
/// recorder, admission, pricing, routes, upstream client) on a meter in a temporary folder, with one customer's virtual
/// key, in front of an OpenAI-compatible provider `stub` on the loopback. The writer's commits pass ``commits``.
final class Gateway: Sendable {
    let meter: MeterStore
    let responder: ProxyResponder
    let commits: CommitGate
    /// The virtual key's secret, as a client presents it.
    let secret: String
    private let writer: EventWriter
    private let writing: Task<Void, Never>

    fileprivate init(meter: MeterStore, responder: ProxyResponder, commits: CommitGate, secret: String, writer: EventWriter) {
        self.meter = meter
        self.responder = responder
        self.commits = commits
        self.secret = secret
        self.writer = writer
        writing = Task { await writer.run() }
    }

    /// The headers of a chat completion request from the OpenAI SDK, with the virtual key.
    var requestHeaders: HTTPFields {
        [.authorization: "Bearer \(secret)", .contentType: "application/json", .accept: "application/json"]
    }

    /// Starts one chat completion request through the responder, as Hummingbird's router test mode sends it (no
    /// socket), in a task of its own (on `executor` when given: the relay and its children run there), and returns at
    /// once. `sent` sees every byte the relay hands to the server, as it is handed over; `dropsBody` drops the
    /// response before its body is written, as the server does when the client has gone.
    func start(
        _ body: ChatRequest, sent: Watched<SentBytes> = Watched(SentBytes()), on executor: CountingExecutor? = nil, dropsBody: Bool = false
    ) -> InFlight {
        let application = Application(responder: ObservedResponder(inner: responder, sent: sent, dropsBody: dropsBody))
        let headers = requestHeaders
        let outcome = Watched<Result<TestResponse, any Error>?>(nil)
        Task(executorPreference: executor) {
            let result: Result<TestResponse, any Error>
            do {
                result = .success(
                    try await application.test(.router) { client in
                        try await client.execute(uri: ChatRequest.path, method: .post, headers: headers, body: body.buffer)
                    })
            } catch {
                result = .failure(error)
            }
            outcome.update { $0 = result }
        }
        return InFlight(outcome: outcome)
    }

    /// Closes the writer and waits until every event handed to it is committed; then returns the meter's events.
    func recordedEvents() async throws -> [UsageEvent] {
        commits.open()
        writer.close()
        await writing.value
        return try await meter.events()
    }
}

/// Runs `body` with a ``Gateway`` in front of the provider at `127.0.0.1:upstreamPort`, its config (the defaults, strict
/// durability included) changed by `configure`; with `commitsHeld`, no event commits until the test opens
/// ``Gateway/commits``. The meter's files are removed and the writer, admission and upstream client stopped afterwards,
/// whether `body` returns or throws.
func withGateway<T>(
    upstreamPort: Int, commitsHeld: Bool = false, configure: (inout TollgateConfig) -> Void = { _ in },
    observer: RequestObserver = RequestObserver(), _ body: (Gateway) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-request-path-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    var config = TollgateConfig()
    config.meter.path = directory.appendingPathComponent("meter.db").path
    config.providers = [
        Stub.provider: Provider(
            name: Stub.provider, baseURL: "http://127.0.0.1:\(upstreamPort)", auth: .none,
            prices: PriceCatalog(models: [Stub.model: ModelPrice(input: Money("0.00000015")!, output: Money("0.0000006")!)]))
    ]
    config.defaultProvider = Stub.provider
    configure(&config)

    let logger = Logger(label: "tollgate.tests.request-path")
    let meter = try MeterStore(path: config.meter.path)
    let commits = CommitGate(open: !commitsHeld)
    let writer = EventWriter(meter: meter, maxBatch: config.meter.maxBatch, logger: logger, beforeCommit: { await commits.pass($0) })
    let secret = try await meter.createKey(customer: Stub.customer).secret
    let pricing = PricingState(config.pricingRules)
    let admission = AdmissionControl(meter: meter)
    _ = try await admission.start()
    // Last, as nothing may throw between its creation and its shutdown.
    let upstream = UpstreamClient(settings: config.proxy)
    // Shared, as the server shares it: a request alone is admitted on its own event loop (its event is not: the commit
    // gate above holds every event for the writer's thread).
    let limiter = ConcurrencyLimiter(settings: config.proxy)
    let responder = ProxyResponder(
        config: config, routes: RouteResolver(config: config), meter: meter,
        recorder: EventRecorder(
            writer: writer, durability: config.meter.durability, pricing: pricing, admission: admission, logger: logger, observer: observer,
            limiter: limiter),
        admitter: Admitter(control: admission, pricing: pricing, settings: config.credits, limiter: limiter), upstream: upstream,
        logger: logger, limiter: limiter)
    let gateway = Gateway(
        meter: meter, responder: responder, commits: commits, secret: secret, writer: writer)
    let result: Result<T, any Error>
    do {
        result = .success(try await body(gateway))
    } catch {
        result = .failure(error)
    }
    _ = try? await gateway.recordedEvents()
    await admission.stop()
    await upstream.shutdown()
    return try result.get()
}

/// A request on its way through the gateway.
struct InFlight: Sendable {
    fileprivate let outcome: Watched<Result<TestResponse, any Error>?>

    /// The whole response, or the error that ended it; throws ``TimedOut`` if it does not come.
    func response(timeout: Duration = .seconds(10)) async throws -> TestResponse {
        try await outcome.wait(for: "the response", timeout: timeout) { $0 != nil }!.get()
    }
}

/// The bytes a client was handed, as the relay handed them to the server.
struct SentBytes: Sendable {
    var bytes: [UInt8] = []
    /// Writes attempted (each piece the relay handed over).
    var writes = 0
    /// Writes that failed because the client had gone.
    var failedWrites = 0

    /// The bytes as text.
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// The proxy's responder with an eye on its response bodies: every piece the relay writes is noted in `sent` before
/// it goes on to the server's writer (or, with `dropsBody`, the body is dropped unwritten, as when the client left
/// before the response began).
struct ObservedResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let inner: ProxyResponder
    let sent: Watched<SentBytes>
    var dropsBody = false

    func respond(to request: Request, context: Context) async throws -> Response {
        var response = try await inner.respond(to: request, context: context)
        guard !dropsBody else { return Response(status: response.status, headers: response.headers) }
        let body = response.body
        let sent = self.sent
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(ObservingWriter(base: writer, sent: sent))
        }
        return response
    }
}

/// A response body writer that notes what passes through it on its way to the server's writer.
private struct ObservingWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let sent: Watched<SentBytes>

    mutating func write(_ buffer: ByteBuffer) async throws {
        do {
            try await base.write(buffer)
            sent.update {
                $0.bytes += buffer.readableBytesView
                $0.writes += 1
            }
        } catch {
            sent.update {
                $0.writes += 1
                $0.failedWrites += 1
            }
            throw error
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}

// MARK: - Servers and clients on the loopback

/// Runs `body` with an AsyncHTTPClient (a real client on a real socket), and shuts the client down afterwards,
/// whether `body` returns or throws (a client must be shut down before it is released).
func withHTTPClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let result: Result<T, any Error>
    do {
        result = .success(try await body(client))
    } catch {
        result = .failure(error)
    }
    try await client.shutdown()
    return try result.get()
}

/// Runs `responder` as a live Hummingbird server on 127.0.0.1 (a port the system picks) for as long as `body` runs,
/// and stops it (cancelling what it still serves) afterwards; `body` gets the port.
func withLoopbackServer<Responder: HTTPResponder, T>(
    _ responder: Responder, _ body: (Int) async throws -> T
) async throws -> T where Responder.Context == BasicRequestContext {
    let port = Watched<Int?>(nil)
    // Stopping by cancellation is logged by Hummingbird as errors ("Waiting on child channel"): quiet, not failures.
    var logger = Logger(label: "tollgate.tests.loopback")
    logger.logLevel = .critical
    let application = Application(
        responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.update { $0 = channel.localAddress?.port } }, logger: logger)
    let running = Task { try await application.runService(gracefulShutdownSignals: []) }
    defer { running.cancel() }
    // Generous: on a loaded 2-core machine, dozens of parallel tests start their servers at once.
    let bound = try await port.wait(for: "the loopback server to listen", timeout: .seconds(60)) { $0 != nil }
    let result = try await body(bound!)
    running.cancel()
    _ = await running.result
    return result
}

/// A provider on the loopback whose chat completions endpoint gives the test's one answer.
enum Stub {
    /// The provider's name in the gateway's config.
    static let provider = "stub"
    /// The customer the gateway's virtual key bills to.
    static let customer = "acme"
    /// The model requests name, priced in the stub's catalog.
    static let model = "gpt-4o-mini"

    /// Runs the provider for as long as `body` runs; `body` gets its port.
    static func withUpstream<T>(answering answer: @escaping @Sendable () -> Response, _ body: (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post(RouterPath(ChatRequest.path)) { _, _ in answer() }
        return try await withLoopbackServer(router.buildResponder(), body)
    }

    /// A port nothing listens on: one a stub listened on until it stopped.
    static func closedPort() async throws -> Int {
        try await withUpstream(answering: { Response(status: .ok) }) { $0 }
    }

    /// A JSON answer (Content-Length set), with extra headers.
    static func json(_ status: HTTPResponse.Status = .ok, _ body: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[HTTPField.Name("x-request-id")!] = "req_stub"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// An upstream body the test writes piece by piece while the proxy relays it, so that it can look at the client's
/// side between two pieces.
struct PacedBody: Sendable {
    private let pieces: AsyncStream<ByteBuffer>
    private let feed: AsyncStream<ByteBuffer>.Continuation

    init() { (pieces, feed) = AsyncStream.makeStream() }

    /// The next piece of the body.
    func send(_ text: String) { feed.yield(ByteBuffer(string: text)) }

    /// Ends the body.
    func end() { feed.finish() }

    /// The answer that streams this body (it can be given once).
    func response(contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(asyncSequence: pieces))
    }
}

// MARK: - OpenAI's wire formats

/// A chat completion request as the OpenAI SDK sends it.
struct ChatRequest: Sendable {
    static let path = "/v1/chat/completions"
    /// `stream: true`.
    var stream = false
    /// `stream_options.include_usage` (without it, the gateway adds the option and takes the usage chunk back out).
    var includeUsage = false

    var buffer: ByteBuffer {
        var json = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}]"#
        if stream { json += #","stream":true"# }
        if includeUsage { json += #","stream_options":{"include_usage":true}"# }
        return ByteBuffer(string: json + "}")
    }
}

/// What OpenAI answers a chat completion: a JSON body, or `data:` chunks ending with a usage chunk and `[DONE]`.
enum OpenAIWire {
    static let servedModel = "gpt-4o-mini-2024-07-18"
    static let promptTokens = 19
    static let completionTokens = 10
    static let usage =
        #"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"#
        + #""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#

    /// A whole (non-stream) chat completion.
    static let completion =
        #"{"id":"chatcmpl-BtGw1kJb9","object":"chat.completion","created":1752147400,"model":"gpt-4o-mini-2024-07-18","#
        + #""choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null,"#
        + #""annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":\#(usage),"service_tier":"default","#
        + #""system_fingerprint":"fp_34a54ae93c"}"#

    /// One stream chunk as an SSE event.
    static func chunk(choices: String, usage: String = "null") -> String {
        #"data: {"id":"chatcmpl-BtGw1kJb9","object":"chat.completion.chunk","created":1752147400,"model":"gpt-4o-mini-2024-07-18","#
            + #""service_tier":"default","system_fingerprint":"fp_34a54ae93c","choices":\#(choices),"usage":\#(usage)}"# + "\n\n"
    }

    /// A chunk carrying some content.
    static func content(_ text: String) -> String {
        chunk(choices: #"[{"index":0,"delta":{"content":"\#(text)"},"logprobs":null,"finish_reason":null}]"#)
    }

    /// The first chunk: the role, no content yet.
    static let roleChunk = chunk(
        choices: #"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#)
    /// The last choice chunk.
    static let stopChunk = chunk(choices: #"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#)
    /// The chunk `stream_options.include_usage` asks for: no choices, the usage.
    static let usageChunk = chunk(choices: "[]", usage: usage)
    /// The end of the stream.
    static let done = "data: [DONE]\n\n"

    /// A whole stream, in the pieces the provider sends.
    static let stream = [roleChunk, content("Hello!"), content(" How can I help?"), stopChunk, usageChunk, done]
    /// The same stream as a client that did not ask for usage gets it: no usage chunk, no `"usage":null` members.
    static let withoutAddedUsage = stream.filter { $0 != usageChunk }.map { $0.replacingOccurrences(of: #","usage":null"#, with: "") }

    /// An error body in OpenAI's shape.
    static func error(_ message: String, type: String, code: String?) -> String {
        let code = code.map { #""\#($0)""# } ?? "null"
        return #"{"error":{"message":"\#(message)","type":"\#(type)","param":null,"code":\#(code)}}"#
    }
}

// MARK: - Expectations

/// The one event of a request; an issue (stopping the test) when the meter has none or more than one.
func onlyEvent(_ events: [UsageEvent], sourceLocation: SourceLocation = #_sourceLocation) throws -> UsageEvent {
    try #require(events.count == 1, "one event per request, not \(events.count)", sourceLocation: sourceLocation)
    return events[0]
}

extension UsageEvent {
    /// Whether the event carries the stub's usage as the provider reported it (not an estimate).
    var hasReportedUsage: Bool {
        !estimated && usage.inputTokens == OpenAIWire.promptTokens && usage.outputTokens == OpenAIWire.completionTokens
    }
}

extension ByteBuffer {
    /// The readable bytes as text.
    var text: String { String(buffer: self) }
}
