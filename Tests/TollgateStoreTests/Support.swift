import Foundation
import Testing
import TollgateCore

@testable import TollgateStore

// Shared helpers of the TollgateStore tests: temporary meter files that are always removed, and events built
// from a few distinguishing values.

// MARK: - Temporary files

/// Runs `body` with a fresh, empty folder under the system temporary directory, and removes the folder (with
/// every SQLite file in it, `-wal` and `-shm` included) when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-store-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// The path of the meter file inside a temporary folder (in a subfolder, so that opening must create it).
func meterPath(in directory: URL) -> String {
    directory.appendingPathComponent("data/meter.db").path
}

/// Runs `body` with a new, empty meter: a file in a temporary folder, or, when `TOLLGATE_TEST_POSTGRES_URL` names a
/// PostgreSQL database, a schema of its own there (the same tests then run against both stores). The files or the
/// schema are removed afterwards.
func withTemporaryMeter<T>(_ body: (MeterStore) async throws -> T) async throws -> T {
    guard let server = ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"], !server.isEmpty else {
        return try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory), synchronousFull: false)
            return try await body(meter)
        }
    }
    let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    let meter = try MeterStore(postgres: PostgresMeterOptions(url: server + (server.contains("?") ? "&" : "?") + "schema=\(schema)&pool=4"))
    defer {
        try? meter.database.write { try $0.execute(sql: "DROP SCHEMA \(schema) CASCADE") }
        try? meter.close()
    }
    return try await body(meter)
}

// MARK: - Events

/// A minimal, valid event: the given id, time and customer, every optional field left out.
func makeEvent(id: String, timestampMs: Int64 = 1_700_000_000_000, customer: String = "acme") -> UsageEvent {
    UsageEvent(
        id: id, timestampMs: timestampMs, customer: customer, keyID: "key_test", provider: "openai", route: APIName.openAIChat.rawValue,
        path: "/v1/chat/completions", model: "gpt-4o-mini", servedModel: nil, status: 200, stream: false,
        usage: TokenUsage(inputTokens: 10, outputTokens: 2), latencyMs: 12.5, ttfbMs: nil, upstreamMs: nil,
        cost: Money(raw: 1), price: Money(raw: 2), currency: "USD", estimated: false, priced: true
    )
}

/// `count` events with ids `evt_<prefix>_0000`… and, when `distinctCustomers`, one customer per event.
func makeEvents(_ count: Int, prefix: String, distinctCustomers: Bool = false) -> [UsageEvent] {
    (0..<count).map { index in
        let number = String(index).leftPadded(to: 4)
        return makeEvent(
            id: "evt_\(prefix)_\(number)", timestampMs: 1_700_000_000_000 + Int64(index),
            customer: distinctCustomers ? "customer-\(prefix)-\(number)" : "acme"
        )
    }
}

extension String {
    /// The string with zeros in front up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// A date `milliseconds` after 1970, as `MeterStore.events(since:until:)` takes it.
func date(ms milliseconds: Int64) -> Date {
    Date(timeIntervalSince1970: Double(milliseconds) / 1000)
}

// MARK: - Writer

/// Runs `body` with a writer whose `run()` loop is going, then closes the writer and waits for the loop to end,
/// whether `body` returns or throws (`run()` ignores cancellation, so a failed test must not leave it waiting).
func withRunningWriter<T>(_ meter: MeterStore, maxBatch: Int = 512, _ body: (EventWriter) async throws -> T) async throws -> T {
    let writer = EventWriter(meter: meter, maxBatch: maxBatch)
    async let running: Void = writer.run()
    let result: Result<T, any Error>
    do {
        result = .success(try await body(writer))
    } catch {
        result = .failure(error)
    }
    writer.close()
    await running
    return try result.get()
}
