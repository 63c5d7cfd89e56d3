import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import TollgateGateway

/// The upstream client against a scripted provider on a real socket: keep-alive reuse, closes, timeouts, readers that
/// stop early, and TLS with certificate verification.
@Suite("Upstream client")
struct UpstreamClientTests {
    /// The idle timeout of clients whose tests count connections: the whole test run, in parallel on two cores, can
    /// stall a test for minutes (a 4-second sleep has lasted past the default 60 s), and an idle connection closed
    /// meanwhile would be counted again.
    static let noIdleClose = TimeAmount.seconds(3600)

    @Test("keep-alive: sequential requests share one connection; `Connection: close` opens a new one")
    func keepAlive() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            // Connections counted by the requests they carried: a stray connection from another test does not count.
            for _ in 0..<3 { #expect(try await client.text(provider.url("/ok?keep-alive")) == "ok") }
            #expect(provider.connections(carrying: "/ok?keep-alive") == 1)
            #expect(try await client.text(provider.url("/close?keep-alive")) == "bye")
            #expect(try await client.text(provider.url("/ok?keep-alive")) == "ok")
            #expect(provider.connections(carrying: "/ok?keep-alive") == 2)
            #expect(provider.requests.last?.hasPrefix("POST /ok?keep-alive HTTP/1.1\r\nhost: 127.0.0.1:\(provider.port)\r\n") == true)
            await client.shutdown()
        }
    }

    @Test("connections are pooled per event loop: a request on one loop never takes an idle connection of another")
    func poolPerLoop() async throws {
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        guard loops.count >= 2 else { return }
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            func text(on loop: any EventLoop) async throws -> String {
                try await Task(executorPreference: OnLoop(loop)) {
                    #expect(loop.inEventLoop)
                    return try await client.text(provider.url("/ok"))
                }.value
            }
            for _ in 0..<2 { #expect(try await text(on: loops[0]) == "ok") }
            #expect(provider.connections == 1)
            // The other loop's idle connection stays where it is: this loop opens its own, then reuses it.
            for _ in 0..<2 { #expect(try await text(on: loops[1]) == "ok") }
            #expect(provider.connections == 2)
            #expect(try await text(on: loops[0]) == "ok")
            #expect(provider.connections == 2)
            // A caller on no event loop takes whichever idle connection there is.
            #expect(try await client.text(provider.url("/ok")) == "ok")
            #expect(provider.connections == 2)
            await client.shutdown()
        }
    }

    @Test("a request the provider took and then closed on is not sent again: the failure is the caller's to record")
    func noResendAfterWrite() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            #expect(try await client.text(provider.url("/ok")) == "ok")
            await #expect(throws: UpstreamError.closed(answered: false)) { try await client.text(provider.url("/drop")) }
            #expect(provider.requests.filter { $0.hasPrefix("POST /drop") }.count == 1)
            await client.shutdown()
        }
    }

    @Test("a pooled connection the provider closed while idle is replaced, and the request goes out once")
    func staleConnectionReplaced() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            #expect(try await client.text(provider.url("/ok")) == "ok")
            provider.closeIdleConnections()
            // Time for the close to reach the client: a request written before it arrives would be a recorded failure
            // (the client cannot tell it from a provider that took the request and died), not a resend.
            try await Task.sleep(for: .seconds(1))
            #expect(try await client.text(provider.url("/ok")) == "ok")
            #expect(provider.connections == 2)
            #expect(provider.requests.count == 2)
            await client.shutdown()
        }
    }

    @Test("silence longer than the read timeout fails the exchange with readTimeout")
    func readTimeout() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(2), readTimeout: .milliseconds(300))
            await #expect(throws: UpstreamError.readTimeout) { try await client.text(provider.url("/silent")) }
            await client.shutdown()
        }
    }

    @Test("time in the pool is not silence: a connection idle longer than the read timeout is reused without one")
    func idleIsNotSilence() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(3), idleTimeout: Self.noIdleClose)
            // A path of its own: during the sleep another test may connect to a port it believes closed and land here.
            #expect(try await client.text(provider.url("/ok?idle")) == "ok")
            try await Task.sleep(for: .seconds(4))
            #expect(try await client.text(provider.url("/ok?idle")) == "ok")
            #expect(provider.connections(carrying: "/ok?idle") == 1)
            await client.shutdown()
        }
    }

    @Test("each exchange on a kept-alive connection has its own read timeout (the timer armed by an earlier one re-arms)")
    func readTimeoutOnReusedConnection() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            // Long enough for the first answer on a loaded machine (the whole suite runs in parallel on two cores).
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(2), idleTimeout: Self.noIdleClose)
            #expect(try await client.text(provider.url("/ok?reused-timeout")) == "ok")
            // Armed by the first exchange for its own deadline, the timer finds the second one's last read more recent,
            // arms itself again for it, and then fails it.
            await #expect(throws: UpstreamError.readTimeout) { try await client.text(provider.url("/silent?reused-timeout")) }
            #expect(provider.ports(carrying: "/silent?reused-timeout") == provider.ports(carrying: "/ok?reused-timeout"))
            await client.shutdown()
        }
    }

    @Test("an idle connection closes once idle for the idle timeout, counted from its last exchange, not its first")
    func idleClose() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let timeout = Duration.milliseconds(1500)
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: .milliseconds(1500))
            // Three uses 1 s apart: the timer armed after the first fires during the second gap and must find the
            // connection used since. The connection was idle at most from one request's start to the next one's end;
            // when a loaded machine stretches that past the timeout, closing it was right and reuse is not expected.
            var gapsWithin = true
            var previousStart: ContinuousClock.Instant?
            for round in 0..<3 {
                if round > 0 { try await Task.sleep(for: .seconds(1)) }
                let start = ContinuousClock.now
                #expect(try await client.text(provider.url("/ok?idle-close")) == "ok")
                if let previousStart, ContinuousClock.now - previousStart > timeout - .milliseconds(300) { gapsWithin = false }
                previousStart = start
            }
            if gapsWithin { #expect(provider.connections(carrying: "/ok?idle-close") == 1) }
            // Left idle, it closes (the provider sees it go).
            let deadline = ContinuousClock.now + .seconds(30)
            while provider.openConnections(carrying: "/ok?idle-close") > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(provider.openConnections(carrying: "/ok?idle-close") == 0)
            #expect(try await client.text(provider.url("/ok?idle-close-after")) == "ok")
            #expect(provider.ports(carrying: "/ok?idle-close-after").isDisjoint(with: provider.ports(carrying: "/ok?idle-close")))
            await client.shutdown()
        }
    }

    @Test("a reader that stops before the end closes the connection; the next request opens a new one")
    func readerStopsEarly() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            do {
                let response = try await client.post(provider.url("/big"))
                var iterator = response.body.makeAsyncIterator()
                let first = try await iterator.next()
                #expect(first != nil)
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await client.text(provider.url("/ok")) == "ok")
            #expect(provider.connections == 2)
            await client.shutdown()
        }
    }

    @Test("a body read late arrives whole; dropped unread, it gives its connection back when read to its end, else closes it")
    func unclaimedBodies() async throws {
        /// Waits until the connection has read all of `response`'s body while nobody claimed it.
        func heldWhole(_ response: UpstreamResponse) async throws {
            let (connection, exchange) = (response.body.connection, response.body.exchange)
            let deadline = ContinuousClock.now + .seconds(30)
            while try await !connection.eventLoop.submit({ connection.value.holdsWholeBody(exchange: exchange) }).get() {
                #expect(ContinuousClock.now < deadline, "the body was never read whole")
                guard ContinuousClock.now < deadline else { return }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            // The whole answer is read while nobody reads the body: the first `next()` gets it all, then its end.
            let late = try await client.post(provider.url("/ok?late"))
            try await heldWhole(late)
            var text = ""
            for try await piece in late.body { text += String(buffer: piece) }
            #expect(text == "ok")
            // One reader only: another iterator's first `next()` is an error, not an empty body.
            var second = late.body.makeAsyncIterator()
            await #expect(throws: UpstreamBodyReadTwice.self) { try await second.next() }
            #expect(try await client.text(provider.url("/ok?late")) == "ok")
            #expect(provider.connections(carrying: "/ok?late") == 1)
            // The same after `Connection: close`, the provider gone meanwhile: all of it, then its end, no error.
            let closed = try await client.post(provider.url("/close?late"))
            try await heldWhole(closed)
            try await Task.sleep(for: .milliseconds(50))
            text = ""
            for try await piece in closed.body { text += String(buffer: piece) }
            #expect(text == "bye")
            // Dropped unread after its end: the connection is reused.
            let loop: any EventLoop
            do {
                let dropped = try await client.post(provider.url("/ok?dropped"))
                try await heldWhole(dropped)
                loop = dropped.body.connection.eventLoop
            }
            // The drop reaches the connection through its event loop's queue: a task queued after it runs after it.
            try await loop.submit {}.get()
            #expect(try await client.text(provider.url("/ok?dropped")) == "ok")
            #expect(provider.connections(carrying: "/ok?dropped") == 1)
            // Dropped unread before its end: the connection closes, the next request opens another.
            _ = try await client.post(provider.url("/big"))
            #expect(try await client.text(provider.url("/ok?after-big")) == "ok")
            #expect(provider.ports(carrying: "/ok?after-big").isDisjoint(with: provider.ports(carrying: "/big")))
            // Cut while nobody read it: what came, then why it stopped.
            let cut = try await client.post(provider.url("/cut"))
            try await Task.sleep(for: .milliseconds(100))
            var iterator = cut.body.makeAsyncIterator()
            #expect(try await iterator.next().map { String(buffer: $0) } == "part")
            await #expect(throws: UpstreamError.closed(answered: true)) { try await iterator.next() }
            await client.shutdown()
        }
    }

    @Test("a large body arrives whole, in order, through the reader's back-pressure")
    func largeBody() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            let response = try await client.post(provider.url("/big"))
            var received = 0
            var checksum = 0
            for try await piece in response.body {
                for byte in piece.readableBytesView {
                    checksum = (checksum &* 31 &+ Int(byte)) & 0xFFFF_FFFF
                }
                received += piece.readableBytes
                if received % (256 * 1024) < piece.readableBytes { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(received == ScriptedProvider.bigBody.count)
            #expect(checksum == ScriptedProvider.bigBody.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFF_FFFF })
            #expect(try await client.text(provider.url("/ok")) == "ok")
            #expect(provider.connections == 1)
            await client.shutdown()
        }
    }

    @Test("a refused connection is unreachable; a URL that is not http(s) is refused before connecting")
    func unreachable() async throws {
        let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
        // A port bound and not listening: no other test's server can take it while this one connects to it.
        let socket = try RefusingPort()
        await #expect {
            try await client.text("http://127.0.0.1:\(socket.port)/ok")
        } throws: { error in
            if case .unreachable = error as? UpstreamError { return true }
            return false
        }
        socket.close()
        await #expect(throws: UpstreamError.badURL("ftp://example.com/x")) { try await client.text("ftp://example.com/x") }
        await client.shutdown()
    }

    @Test("TLS: the provider's certificate is verified (a trusted one works, an unknown one is refused)")
    func tls() async throws {
        try await ScriptedProvider.with(tls: true) { (provider: ScriptedProvider) async throws in
            var trusting = TLSConfiguration.makeClientConfiguration()
            trusting.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(TestCertificate.pem.utf8), format: .pem)])
            let client = UpstreamClient(connectTimeout: .seconds(30), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose, tls: trusting)
            #expect(try await client.text(provider.url("/ok?tls", scheme: "https", host: "localhost")) == "ok")
            #expect(try await client.text(provider.url("/ok?tls", scheme: "https", host: "localhost")) == "ok")
            #expect(provider.connections(carrying: "/ok?tls") == 1)
            await client.shutdown()

            let strict = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            await #expect {
                try await strict.text(provider.url("/ok", scheme: "https", host: "localhost"))
            } throws: { error in
                if case .unreachable = error as? UpstreamError { return true }
                return false
            }
            await strict.shutdown()
        }
    }
}

extension UpstreamClientTests {
    @Test("a sink attached from the head's callback reads the whole body through its pauses; the connection is reused")
    func sinkReadsWholeBody() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            let sink = try await CollectingSink.attached(starting: { client.start(client.postRequest(provider.url("/big"))) }, pausingEvery: 3)
            let failure = try await sink.ended.get()
            #expect(failure == nil)
            #expect(sink.received == ScriptedProvider.bigBody)
            #expect(sink.pauses > 0)
            #expect(try await client.text(provider.url("/ok")) == "ok")
            #expect(provider.connections(carrying: "/big") == 1)
            #expect(provider.connections == 1)
            await client.shutdown()
        }
    }

    @Test("a sink that stops before the end closes the connection and hears no more; the next request opens a new one")
    func sinkStopsEarly() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            let sink = try await CollectingSink.attached(starting: { client.start(client.postRequest(provider.url("/big"))) }, stoppingAfter: 1)
            try await Task.sleep(for: .milliseconds(200))
            #expect(sink.pieces == 1)
            #expect(sink.endings == 0)
            #expect(try await client.text(provider.url("/ok")) == "ok")
            #expect(provider.connections == 2)
            await client.shutdown()
        }
    }

    @Test("a connection that breaks mid-body tells its sink why")
    func sinkHearsBreak() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            let sink = try await CollectingSink.attached(starting: { client.start(client.postRequest(provider.url("/cut"))) })
            let failure = try await sink.ended.get()
            #expect(failure as? UpstreamError == .closed(answered: true))
            #expect(sink.received == Array("part".utf8))
            await client.shutdown()
        }
    }

    @Test("a sink cannot take a body whose sequence has been read, nor one off the connection's event loop")
    func sinkTooLate() async throws {
        try await ScriptedProvider.with { (provider: ScriptedProvider) async throws in
            let client = UpstreamClient(connectTimeout: .seconds(5), readTimeout: .seconds(30), idleTimeout: Self.noIdleClose)
            let response = try await client.post(provider.url("/big"))
            #expect(response.body.attach(CollectingSink()) == nil)  // off the loop
            var iterator = response.body.makeAsyncIterator()
            #expect(try await iterator.next() != nil)
            let attached = try await response.body.connection.eventLoop.submit { response.body.attach(CollectingSink()) != nil }.get()
            #expect(!attached)
            await client.shutdown()
        }
    }
}

/// A body sink that keeps what it reads: pausing every `pauseEvery` pieces (resumed `pause` later), or stopping after
/// `stopAfter` pieces.
private final class CollectingSink: UpstreamBodySink, @unchecked Sendable {
    // @unchecked: the counters are written on the connection's event loop only, and read once the body has ended.
    private(set) var received: [UInt8] = []
    private(set) var pieces = 0
    private(set) var pauses = 0
    private(set) var endings = 0
    var control: UpstreamBodyControl?
    var loop: (any EventLoop)?
    var pauseEvery = 0
    var stopAfter = 0
    var pause = TimeAmount.milliseconds(1)
    private let end: EventLoopPromise<(any Error)?> = MultiThreadedEventLoopGroup.singleton.next().makePromise()
    /// The body's end: `nil` when whole, or why it broke off.
    var ended: EventLoopFuture<(any Error)?> { end.futureResult }

    /// Starts a request on an event loop, as the server does, and attaches a sink to the response's body from the
    /// head's callback (registered on that loop before the provider can answer: from a task off the loop, the head and
    /// the first body bytes could arrive before the callback is registered, and the body be read without the sink).
    static func attached(
        starting start: @escaping @Sendable () -> EventLoopFuture<UpstreamResponse>, pausingEvery pauseEvery: Int = 0,
        for pause: TimeAmount = .milliseconds(1), stoppingAfter stopAfter: Int = 0
    ) async throws -> CollectingSink {
        try await MultiThreadedEventLoopGroup.singleton.next().flatSubmit {
            start().flatMapThrowing { response in
                let sink = CollectingSink()
                sink.pauseEvery = pauseEvery
                sink.pause = pause
                sink.stopAfter = stopAfter
                sink.loop = response.body.connection.eventLoop
                guard let control = response.body.attach(sink) else { throw UpstreamError.stale }
                sink.control = control
                return sink
            }
        }.get()
    }

    func received(_ piece: ByteBuffer) -> Bool {
        pieces += 1
        received += piece.readableBytesView
        if stopAfter > 0, pieces >= stopAfter {
            control?.stop()
            return false
        }
        guard pauseEvery > 0, pieces % pauseEvery == 0, let loop else { return true }
        pauses += 1
        let control = UnsafeTransfer(control)
        loop.scheduleTask(in: pause) { control.value?.resume() }
        return false
    }

    func ended(_ failure: (any Error)?) {
        endings += 1
        end.succeed(failure)
    }

    deinit {
        // A sink that never heard an end (not attached, or stopped) leaves no promise unfulfilled.
        if endings == 0 { end.fail(UpstreamError.stale) }
    }
}

/// Runs a task's jobs on one event loop (as a request's task runs on its connection's loop in the server).
private final class OnLoop: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension UpstreamClient {
    /// A POST of an empty body.
    fileprivate func postRequest(_ url: String) -> UpstreamRequest {
        var request = UpstreamRequest(url: url)
        request.method = .POST
        request.body = ByteBuffer()
        return request
    }

    /// POSTs an empty body.
    fileprivate func post(_ url: String) async throws -> UpstreamResponse {
        try await execute(postRequest(url))
    }

    /// POSTs an empty body and reads the answer as text.
    fileprivate func text(_ url: String) async throws -> String {
        let response = try await post(url)
        var text = ""
        for try await piece in response.body { text += String(buffer: piece) }
        return text
    }
}

/// A provider on loopback that answers by path: `/ok` (keep-alive), `/close` (`Connection: close`), `/drop` (closes
/// without answering), `/cut` (closes 4 bytes into a 100-byte body), `/silent` (never answers), `/big` (4 MB in 16 KB writes). It counts connections and keeps
/// each request's head.
final class ScriptedProvider: Sendable {
    static let bigBody: [UInt8] = (0..<(4 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 251) }

    private struct State {
        var connections = 0
        var requests: [String] = []
        var requestPorts: [String: Set<Int>] = [:]
        var channels: [any Channel] = []
    }
    private final class Shared: Sendable {
        let lock = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { lock.withLock { body(&$0) } }
    }
    private let state = Shared()
    let port: Int
    private let server: any Channel

    var connections: Int { state.withLock { $0.connections } }
    var requests: [String] { state.withLock { $0.requests } }
    /// How many connections carried requests for this path (and query): by client port, so a stray connection from
    /// another test does not count.
    func connections(carrying path: String) -> Int { state.withLock { $0.requestPorts[path]?.count ?? 0 } }
    /// The client ports of the connections that carried requests for this path (and query).
    func ports(carrying path: String) -> Set<Int> { state.withLock { $0.requestPorts[path] ?? [] } }
    /// How many of those connections are still open.
    func openConnections(carrying path: String) -> Int {
        state.withLock { state in
            let ports = state.requestPorts[path] ?? []
            return state.channels.count { ports.contains($0.remoteAddress?.port ?? -1) }
        }
    }

    func url(_ path: String, scheme: String = "http", host: String = "127.0.0.1") -> String { "\(scheme)://\(host):\(port)\(path)" }

    /// Closes every connection that is not in the middle of a request.
    func closeIdleConnections() {
        for channel in state.withLock({ $0.channels }) { channel.close(promise: nil) }
    }

    static func with<T>(tls: Bool = false, _ body: (ScriptedProvider) async throws -> T) async throws -> T {
        let provider = try await ScriptedProvider(tls: tls)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(provider))
        } catch {
            result = .failure(error)
        }
        provider.closeIdleConnections()
        try? await provider.server.close()
        return try result.get()
    }

    private init(tls: Bool) async throws {
        let context: NIOSSLContext? =
            tls
            ? try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(TestCertificate.pem.utf8), format: .pem))],
                    privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(TestCertificate.key.utf8), format: .pem))))
            : nil
        let state = self.state
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                state.withLock {
                    $0.connections += 1
                    $0.channels.append(channel)
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let context { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
                    try channel.pipeline.syncOperations.addHandler(Handler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = server.localAddress?.port ?? 0
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let state: Shared
        var buffer = ""

        init(state: Shared) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            buffer += String(buffer: unwrapInboundIn(data))
            guard let end = buffer.range(of: "\r\n\r\n") else { return }
            let head = String(buffer[..<end.upperBound])
            buffer = String(buffer[end.upperBound...])
            let target = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let clientPort = context.remoteAddress?.port ?? 0
            state.withLock {
                $0.requests.append(head)
                $0.requestPorts[target, default: []].insert(clientPort)
            }
            let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
            switch path {
            case "/ok": reply(context, "ok", close: false)
            case "/close": reply(context, "bye", close: true)
            case "/drop": context.close(promise: nil)
            case "/cut":
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart")))
                    .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            case "/big":
                context.write(
                    wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: \(ScriptedProvider.bigBody.count)\r\n\r\n")), promise: nil)
                var offset = 0
                while offset < ScriptedProvider.bigBody.count {
                    let next = min(offset + 16 * 1024, ScriptedProvider.bigBody.count)
                    context.write(wrapOutboundOut(ByteBuffer(bytes: ScriptedProvider.bigBody[offset..<next])), promise: nil)
                    offset = next
                }
                context.flush()
            default: break  // /silent
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.withLock { $0.channels.removeAll { $0 === context.channel } }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

        private func reply(_ context: ChannelHandlerContext, _ text: String, close: Bool) {
            let head = "HTTP/1.1 200 OK\r\ncontent-length: \(text.utf8.count)\r\n\(close ? "connection: close\r\n" : "")\r\n"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: head + text))).assumeIsolated().whenComplete { _ in
                if close { context.close(promise: nil) }
            }
        }
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (P-256, valid until 2126), made for these tests only.
enum TestCertificate {
    static let pem = """
        -----BEGIN CERTIFICATE-----
        MIIBnDCCAUGgAwIBAgIUc1FnCaC6aOPzY85iwbbI4V24bbMwCgYIKoZIzj0EAwIw
        FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNTEzMDY0MloYDzIxMjYxMTEx
        MTMwNjQyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
        PQMBBwNCAATBxJq/9YxUCsgjLOnVnKVnXdwNwKhzSPSWW/0idUD7E3X2qCe39L15
        SWqurXlYWKe1+8XZLw7rz6RtE9xQMeXbo28wbTAdBgNVHQ4EFgQUkwAtzqW/fTt2
        FzhNMcBXfkktsIAwHwYDVR0jBBgwFoAUkwAtzqW/fTt2FzhNMcBXfkktsIAwDwYD
        VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
        zj0EAwIDSQAwRgIhALSSq5rGk+zaJf1FFsRB1FJxvJmdmTeI6PlufRBOhkeFAiEA
        3U17ex6wZAQ5nLEqkHDe+csPBgBnYDmczi74/gb5xzc=
        -----END CERTIFICATE-----
        """
    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbXHstTr85IWaeVaQ
        38lFf3kX0LGrnj3i+7QbpwUQ/9+hRANCAATBxJq/9YxUCsgjLOnVnKVnXdwNwKhz
        SPSWW/0idUD7E3X2qCe39L15SWqurXlYWKe1+8XZLw7rz6RtE9xQMeXb
        -----END PRIVATE KEY-----
        """
}

/// A TCP port on loopback that refuses connections: bound, never listening, until closed.
final class RefusingPort {
    private var descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Glibc.bind(descriptor, address, length) == 0 && getsockname(descriptor, address, &length) == 0
            }
        }
        guard descriptor >= 0, bound else {
            if descriptor >= 0 { _ = Glibc.close(descriptor) }
            throw UpstreamError.unreachable("no port to refuse on")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}
