import NIOCore
import NIOHTTP1
import Synchronization

/// A request to a provider: method, absolute URL, headers as they go out (``HeaderPolicy/upstream(from:provider:forceIdentityEncoding:)``
/// less what the client must not send on), and the body.
struct UpstreamRequest: Sendable {
    var method: HTTPMethod = .GET
    /// `http(s)://host[:port]/path?query`
    var url: String
    var headers = HTTPHeaders()
    var body: ByteBuffer?

    init(url: String) { self.url = url }
}

/// A provider's answer: the head at once, the body as it arrives (``UpstreamBody``).
struct UpstreamResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: UpstreamBody
}

/// The body of a provider's answer, piece by piece as the connection reads it. The connection reads on only while the
/// reader keeps up (back-pressure: a slow client slows the provider's connection, it does not fill memory); a reader
/// that stops early closes the connection.
///
/// It is read as an async sequence, or, on the connection's event loop, by an ``UpstreamBodySink`` that takes the
/// sequence's place (``attach(_:)``): no task then waits for the pieces. Whichever comes first claims the body; the
/// sequence's machinery (NIO's producer) is made only when a sequence reads it, at its first `next()`: until then the
/// connection keeps what it reads and reads no more. A body nobody claims closes the connection when dropped.
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, UpstreamConnection.Demand
    >
    private let claim: Claim

    init(connection: NIOLoopBound<UpstreamConnection>, exchange: Int) {
        self.claim = Claim(connection: connection, exchange: exchange)
    }

    /// The connection that reads the body, and the number of its exchange.
    var connection: NIOLoopBound<UpstreamConnection> { claim.connection }
    var exchange: Int { claim.exchange }

    /// Who reads the body: taken once, by a sink or by the sequence's iterator. Dropped untaken, it tells the
    /// connection, which has nobody to hand the rest of the body to.
    private final class Claim: Sendable {
        enum Reader: UInt8 {
            case nobody, sink, iterator
        }

        let connection: NIOLoopBound<UpstreamConnection>
        let exchange: Int
        private let reader = Atomic(Reader.nobody.rawValue)

        init(connection: NIOLoopBound<UpstreamConnection>, exchange: Int) {
            self.connection = connection
            self.exchange = exchange
        }

        /// Takes the body for `taker`; returns who had it before (`.nobody`: `taker` has it now).
        func take(for taker: Reader) -> Reader {
            let previous = reader.compareExchange(expected: Reader.nobody.rawValue, desired: taker.rawValue, ordering: .acquiringAndReleasing)
            return Reader(rawValue: previous.original) ?? .nobody
        }

        deinit {
            guard reader.load(ordering: .acquiring) == Reader.nobody.rawValue else { return }
            connection.execute { [exchange] in $0.unclaimedBodyDropped(exchange: exchange) }
        }
    }

    /// Hands the body to `sink` instead of the sequence: only on the connection's event loop (`eventLoop`), and only
    /// while nobody has claimed it and the connection has read none of it yet (as when called from the head's
    /// callbacks); `nil` otherwise, the sequence remaining the way to read it.
    func attach(_ sink: any UpstreamBodySink) -> UpstreamBodyControl? {
        guard connection.eventLoop.inEventLoop, connection.value.canAttach(exchange: exchange), claim.take(for: .sink) == .nobody
        else { return nil }
        connection.value.attach(sink, exchange: exchange)
        return UpstreamBodyControl(connection: connection.value, exchange: exchange)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        /// The body, until the first `next()` claims it and makes its sequence.
        fileprivate var body: UpstreamBody?
        fileprivate var inner: Producer.AsyncIterator?

        // `@concurrent`, as NIO's iterator it calls.
        @concurrent mutating func next() async throws -> ByteBuffer? {
            if inner == nil {
                guard let body else { return nil }
                self.body = nil
                switch body.claim.take(for: .iterator) {
                case .nobody: break
                // A sink took the body first: the sequence is empty.
                case .sink: return nil
                case .iterator: throw UpstreamBodyReadTwice()
                }
                let connection = body.connection
                let exchange = body.exchange
                inner = try await connection.eventLoop.submit {
                    connection.value.sequence(exchange: exchange, on: connection.eventLoop)
                }.get().makeAsyncIterator()
            }
            return try await inner?.next()
        }
    }

    /// Only one iterator reads the body: the first to call `next()` (another's first `next()` throws).
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }
}

/// A second iterator over an upstream body, which one reader only can read.
struct UpstreamBodyReadTwice: Error, CustomStringConvertible {
    var description: String { "an upstream body was iterated twice" }
}

/// Why an exchange with a provider failed.
enum UpstreamError: Error, Equatable, CustomStringConvertible {
    /// The connection could not be made within `proxy.connect_timeout_s`.
    case connectTimeout
    /// The provider sent nothing for `proxy.read_timeout_s`.
    case readTimeout
    /// The connection could not be made (refused, no route, TLS handshake failed …).
    case unreachable(String)
    /// The connection closed before the response ended; `answered` says whether any of the response had arrived.
    case closed(answered: Bool)
    /// The URL is not `http(s)://host[:port]/…`.
    case badURL(String)
    /// A pooled connection had closed before the request was written (nothing was sent on it).
    case stale

    var description: String {
        switch self {
        case .connectTimeout: return "connect timeout"
        case .readTimeout: return "read timeout"
        case .unreachable(let reason): return "unreachable: \(reason)"
        case .closed(let answered): return answered ? "connection closed mid-response" : "connection closed before a response"
        case .badURL(let url): return "not an http(s) URL: \(url)"
        case .stale: return "the pooled connection had closed"
        }
    }
}

/// Where a request goes: scheme, host and port (the pool's key), and the request target.
struct UpstreamOrigin: Hashable, Sendable {
    var tls: Bool
    var host: String
    var port: Int

    /// `host` or `host:port`, for the Host header (brackets around an IPv6 address).
    var authority: String {
        let name = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// Splits `http(s)://authority/target` into the origin and the target (`/` when the URL has no path).
    static func split(_ url: String) throws(UpstreamError) -> (origin: UpstreamOrigin, target: String) {
        let tls: Bool
        let rest: Substring
        if url.hasPrefix("https://") {
            tls = true
            rest = url.dropFirst(8)
        } else if url.hasPrefix("http://") {
            tls = false
            rest = url.dropFirst(7)
        } else {
            throw .badURL(url)
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty || target.first == "?" { target = "/" + target }
        var host = Substring(authority)
        var port = tls ? 443 : 80
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { throw .badURL(url) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.first == ":" {
                guard let number = Int(after.dropFirst()) else { throw .badURL(url) }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let number = Int(authority[authority.index(after: colon)...]) else { throw .badURL(url) }
            host = authority[..<colon]
            port = number
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw .badURL(url) }
        return (UpstreamOrigin(tls: tls, host: String(host), port: port), target)
    }
}

/// Reads a provider's body on its connection's event loop, in place of the body's sequence (``UpstreamBody/attach(_:)``).
protocol UpstreamBodySink: AnyObject {
    /// The next piece; returns whether the connection may read on (`false`: not until ``UpstreamBodyControl/resume()``).
    /// A piece may still come after `false`, from what the connection had read already.
    func received(_ piece: ByteBuffer) -> Bool
    /// The body ended: whole (`nil`), or broken off (why). Not called after ``UpstreamBodyControl/stop()``.
    func ended(_ failure: (any Error)?)
}

/// A sink's hold on the connection it reads, on the connection's event loop.
struct UpstreamBodyControl {
    let connection: UpstreamConnection
    let exchange: Int

    /// The sink caught up: the connection reads on.
    func resume() { connection.resume(exchange: exchange) }
    /// The sink reads no more: before the body's end, the connection closes.
    func stop() { connection.stop(exchange: exchange) }
}

extension NIOLoopBound {
    /// Runs `body` with the value on its event loop: now if the caller runs there, later otherwise.
    func execute(_ body: @escaping @Sendable (Value) -> Void) {
        if eventLoop.inEventLoop { return body(value) }
        eventLoop.execute { body(self.value) }
    }
}
