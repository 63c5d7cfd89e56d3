import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate keys`: virtual keys for customers.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke virtual keys.", subcommands: [Create.self, List.self, Revoke.self])

    /// `tollgate keys create --customer ID`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key for a customer; the key is printed once, alone on the last line.")
        @OptionGroup var options: ConfigOption
        @Option(help: "Customer id the key bills to (created if new).") var customer: String
        @Option(help: "A label for the key.") var name: String?

        func run() async throws {
            let meter = try openMeter(options.config)
            let (key, secret) = try await meter.createKey(customer: customer, name: name)
            print("created key \(key.id) for customer \(key.customer); it is shown only this once:")
            print(secret)
        }
    }

    /// `tollgate keys list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the secrets).")
        @OptionGroup var options: ConfigOption
        @Option(help: "Only this customer's keys.") var customer: String?
        @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let keys = try await openMeter(options.config).keys(customer: customer)
            if format == .json {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys]
                for key in keys { print(String(decoding: try encoder.encode(key), as: UTF8.self)) }
                return
            }
            let rows = keys.map { key in
                [
                    key.id, key.customer, key.prefix + "…", key.name ?? "", EventFields.timestamp(key.createdMs),
                    key.revokedMs.map(EventFields.timestamp) ?? "active",
                ]
            }
            printTable(header: ["id", "customer", "prefix", "name", "created", "revoked"], rows: rows)
        }
    }

    /// `tollgate keys revoke KEY_ID`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; requests with it get 401 from then on.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The key id (key_…), as `keys list` shows it.") var id: String

        func run() async throws {
            try await openMeter(options.config).revokeKey(id: id)
            print("revoked \(id)")
        }
    }
}
