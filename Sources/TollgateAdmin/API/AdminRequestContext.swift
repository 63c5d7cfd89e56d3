import Hummingbird
import NIOCore

/// The request context of the admin listener: Hummingbird's basic one, plus the peer's address (which the
/// dashboard's login throttling counts by, and which decides whether forwarded headers are believed).
public struct AdminRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The address of the connection's other end; `nil` in router tests.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address as text (`127.0.0.1`, `::1`).
    var peerAddress: String? { remoteAddress?.ipAddress }
}
