import Foundation
import Hummingbird

/// Wires the responder into a Hummingbird application and announces the bound address.
struct SimulatorServer {
    let settings: SimulatorSettings

    /// Serves until a shutdown signal.
    func run() async throws {
        let responder = SimulatorResponder(
            settings: settings, log: RequestLog(), replay: settings.replayDirectory.map { ReplayStore(directory: $0) },
            promptCache: PromptCache()
        )
        let host = settings.host
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                // Scripts wait for this exact line to learn the port, so it goes straight to fd 1, unbuffered.
                let port = channel.localAddress?.port ?? settings.port
                FileHandle.standardOutput.write(Data("tollgate-sim listening on http://\(host):\(port)\n".utf8))
            }
        )
        try await app.runService()
    }
}
