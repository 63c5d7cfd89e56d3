import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// Media usage in the meter (migration v7): images with their variant, audio seconds and input characters are stored
/// and read back; a meter written before v7 opens with its events intact and zero media quantities.
@Suite("Media usage in the meter")
struct MediaUsageStoreTests {
    static func event(_ id: String, usage: TokenUsage, route: APIName, at second: Int64) -> UsageEvent {
        UsageEvent(
            id: id, timestampMs: 1_750_000_000_000 + second * 1000, customer: "acme", keyID: "key_1", provider: "openai", route: route.rawValue,
            path: "/v1/x", model: "m", servedModel: "m", status: 200, stream: false, usage: usage, latencyMs: 1, ttfbMs: nil, upstreamMs: nil,
            cost: Money("0.12")!, price: Money("0.12")!, currency: "USD", estimated: false, priced: true)
    }

    @Test("images, their variant, audio seconds and characters round-trip")
    func roundTrip() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            let events = [
                Self.event("evt_img", usage: TokenUsage(images: 3, imageVariant: "hd/1792x1024"), route: .openAIImages, at: 1),
                Self.event("evt_tts", usage: TokenUsage(inputCharacters: 4096), route: .openAISpeech, at: 2),
                Self.event("evt_stt", usage: TokenUsage(audioSeconds: 61), route: .openAITranscriptions, at: 3),
            ]
            try await meter.insert(events)
            #expect(try await meter.events() == events)
        }
    }

    @Test("a meter at schema v5 opens migrated, its events intact with zero media quantities")
    func upgradeFromV5() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let old = Self.event("evt_old", usage: TokenUsage(inputTokens: 10, outputTokens: 20), route: .openAIChat, at: 1)
            do {
                let pool = try DatabasePool(path: path)
                try SQLiteMeterDatabase.migrator(upTo: "v5: billing export outbox, customers' ids in billing systems").migrate(pool)
                try await pool.write { db in
                    #expect(try !db.columns(in: "events").contains { $0.name == "images" })
                    try db.execute(sql: MarginReportTests.v3InsertSQL, arguments: MarginReportTests.v3Arguments(old))
                }
                try pool.close()
            }
            let meter = try MeterStore(path: path)
            let applied = try meter.appliedMigrations()
            #expect(applied.contains { $0.hasPrefix("v7") })
            #expect(try await meter.events() == [old])
            let new = Self.event("evt_new", usage: TokenUsage(images: 1, imageVariant: "512x512"), route: .openAIImageEdits, at: 2)
            try await meter.insert([new])
            #expect(try await meter.events() == [old, new])
        }
    }
}
