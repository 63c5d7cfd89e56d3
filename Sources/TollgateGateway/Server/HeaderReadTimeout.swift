import Foundation
import NIOCore

/// Closes a new connection that has not delivered a complete request head within `timeout` (`proxy.header_read_timeout_s`):
/// a client that opens connections and sends nothing, or trickles its headers byte by byte (slowloris), holds no
/// connection for longer than that. Sits after the HTTP decoder, whose first part on a connection is the request
/// head (it then leaves the pipeline); between requests on a kept-alive connection the idle timeout
/// (`proxy.idle_timeout_s`) bounds the wait.
public final class HeaderReadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    // The parts are not looked at: only whether one arrived.
    public typealias InboundIn = NIOAny
    public typealias InboundOut = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var headRead = false

    /// A handler that gives a connection `timeout` to deliver its first request head.
    public init(timeout: TimeAmount) { self.timeout = timeout }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The first part read is the only one: the handler leaves the pipeline with it.
        headRead = true
        timer?.cancel()
        timer = nil
        context.fireChannelRead(data)
        // Its work is done: every later part of every request on the connection would pass through it for nothing.
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard timer == nil, !headRead else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [self] in
            self.timer = nil
            if !self.headRead { loopBound.value.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension HeaderReadTimeoutHandler: Sendable {}

/// The process's file-descriptor limit.
public enum FileDescriptorLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit (as servers do: each connection is a descriptor) and returns
    /// the soft limit in effect.
    @discardableResult
    public static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }
}
