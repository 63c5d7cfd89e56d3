import ArgumentParser
import Foundation
import Logging
import TollgateCore
import TollgateTelemetry

/// `tollgate serve`: runs the proxy until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "Listen address HOST:PORT, overriding the config.")
    var listen: String?

    func run() async throws {
        var config = try loadConfig(options.config)
        if let listen {
            guard let address = ListenAddress(listen) else { throw ValidationError("--listen expects HOST:PORT, not '\(listen)'") }
            config.listen = address
        }
        let logger = LogOutput.bootstrap(config.log)
        logger.notice("\(config.activationSummary)")
        let keyless = config.providers.values.sorted(by: { $0.name < $1.name }).filter { !$0.hasCredentials }
        if !keyless.isEmpty {
            let names = keyless.map { provider -> String in
                let source = provider.apiKeyEnv ?? "api_key"
                return "\(provider.name) (\(provider.auth == .sigv4 ? "AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, or \(source)" : source))"
            }.joined(separator: ", ")
            logger.warning("providers without an API key; their requests fail until one is set: \(names)")
        }
        let server = TollgateServer(config: config, configPath: options.config, logger: logger)
        let summary =
            "meter \(config.meter.location) (\(config.meter.durability == .strict ? "strict" : "relaxed")), providers: "
            + (config.providers.isEmpty ? "none active" : config.providers.keys.sorted().joined(separator: ", "))
        let host = config.listen.host
        try await server.run { port in
            logger.notice("tollgate listening on http://\(host):\(port) — \(summary)")
        }
    }
}
