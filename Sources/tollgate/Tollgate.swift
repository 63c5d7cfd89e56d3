import ArgumentParser
import TollgateCore

/// The `tollgate` command: the metering proxy and the tools to operate it.
struct Tollgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "An LLM token-metering reverse proxy.",
        discussion: """
            Point an OpenAI SDK at http://127.0.0.1:8787/v1 with a Tollgate virtual key; every inference is metered \
            into a local SQLite file (or PostgreSQL, shared by replicas). Without --config, Tollgate runs on its embedded defaults.
            """,
        version: TollgateVersion.current,
        subcommands: [
            Serve.self, Check.self, Keys.self, Events.self, Quote.self, Rates.self, Lines.self, Rerate.self, Customers.self, Credits.self,
            Limits.self, Report.self, Export.self, Statement.self, Meter.self,
        ]
    )
}
