import ArgumentParser
import Foundation
import Hummingbird

/// `tollgate-sim`: an OpenAI-, Anthropic- and Gemini-shaped upstream for Tollgate's tests and benchmarks.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-sim",
        abstract: "A deterministic OpenAI, Anthropic and Gemini upstream for testing and benchmarking Tollgate."
    )

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind; 0 picks a free port (the ready line tells which).")
    var port = 0

    @Option(name: .customLong("token-delay-ms"), help: "Pause between streamed tokens; x-sim-delay-ms overrides it per request.")
    var tokenDelayMs = 20

    @Option(name: .customLong("first-token-delay-ms"), help: "Pause before the first streamed chunk.")
    var firstTokenDelayMs = 0

    @Option(name: .customLong("replay-dir"), help: "Folder of recorded cases (CASE/case.json, CASE/response.body) for x-sim-replay.")
    var replayDir: String?

    @Option(
        name: .customLong("api-key"),
        help: "Key Anthropic (x-api-key) and Gemini (x-goog-api-key or ?key=) requests must carry; any key when unset.")
    var apiKey: String?

    @Flag(name: .customLong("no-compress"), help: "Never gzip response bodies.")
    var noCompress = false

    /// Parses the command line and serves; on bad arguments or --help, prints and exits like ArgumentParser does.
    static func launch() async {
        do {
            let command = try await asyncParse()
            try await command.run()
        } catch {
            exit(withError: error)
        }
    }

    /// Validates the numbers before the server starts.
    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard tokenDelayMs >= 0, firstTokenDelayMs >= 0 else { throw ValidationError("delays must not be negative") }
    }

    /// Runs the server until SIGINT/SIGTERM.
    func run() async throws {
        let settings = SimulatorSettings(
            host: host, port: port, tokenDelayMs: tokenDelayMs, firstTokenDelayMs: firstTokenDelayMs,
            replayDirectory: replayDir, apiKey: apiKey, compress: !noCompress
        )
        try await SimulatorServer(settings: settings).run()
    }
}
