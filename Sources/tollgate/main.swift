import Foundation
import NIOCore
import NIOPosix

// Swift concurrency runs on NIO's event loops, so a request moves between the server, the upstream client and its
// handler without a switch to another thread pool at each step. It must happen before any other concurrent code
// runs. TOLLGATE_EXECUTOR=swift keeps Swift's own pool (for comparison in bench/).
if ProcessInfo.processInfo.environment["TOLLGATE_EXECUTOR"] != "swift" {
    NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
}
await runTollgate()

/// The async entry point, named so that the async `main` of `AsyncParsableCommand` is the one chosen.
func runTollgate() async {
    await Tollgate.main(nil as [String]?)
}
