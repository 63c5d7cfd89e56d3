import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TollgateCore

@testable import TollgateGateway
@testable import TollgateStore

/// Fail closed: while the meter cannot write, inference requests are refused before they reach the provider and
/// `/readyz` says why; once it can write again everything resumes, and no event of a request the provider answered
/// is lost.
@Suite("Fail closed")
struct FailClosedTests {
    /// Sends `GET path` through the gateway's responder.
    static func get(_ gateway: Gateway, _ path: String) async throws -> TestResponse {
        let application = Application(responder: gateway.responder)
        return try await application.test(.router) { client in try await client.execute(uri: path, method: .get) }
    }

    /// The meter's writer connection may grow the file to `pages` pages at most (`nil`: no limit).
    static func limitPages(_ meter: MeterStore, to pages: Int?) async throws {
        try await meter.sqlitePool!.writeWithoutTransaction { db in
            let limit = pages ?? 1_073_741_823
            try db.execute(sql: "PRAGMA max_page_count = \(limit)")
        }
    }

    @Test("a meter out of space: 503 without an upstream call and /readyz unready; after space returns, no event lost")
    func outOfSpace() async throws {
        let reached = Watched(0)
        try await Stub.withUpstream(
            answering: {
                reached.update { $0 += 1 }
                return Stub.json(.ok, Array(OpenAIWire.completion.utf8))
            }
        ) { port in
            try await withGateway(upstreamPort: port) { gateway in
                #expect(try await gateway.start(ChatRequest()).response().status == .ok)
                #expect(try await Self.get(gateway, "/readyz").status == .ok)

                // No room to grow: requests go on until a write fails (the free room inside the file's pages first).
                let pages = try await gateway.meter.sqlitePool!.read { try Int.fetchOne($0, sql: "PRAGMA page_count") } ?? 1
                try await Self.limitPages(gateway.meter, to: pages)
                var sent = 1
                while gateway.responder.recorder.meterFailure == nil, sent < 2_000 {
                    _ = try? await gateway.start(ChatRequest()).response()
                    sent += 1
                }
                let failure = try #require(gateway.responder.recorder.meterFailure, "the meter never filled up")
                #expect(failure.contains("full"), "\(failure)")

                let before = reached.value
                let refused = try await gateway.start(ChatRequest()).response()
                #expect(refused.status == .serviceUnavailable)
                #expect(refused.headers[.retryAfter] == "1")
                #expect(String(buffer: refused.body).contains(#""code":"meter_unavailable""#))
                #expect(reached.value == before, "a refused request reached the provider")
                let unready = try await Self.get(gateway, "/readyz")
                #expect(unready.status == .serviceUnavailable)
                #expect(String(buffer: unready.body).contains("full"))

                // Space returns: the events kept in memory are written, and requests are served again.
                try await Self.limitPages(gateway.meter, to: nil)
                let deadline = ContinuousClock.now + .seconds(10)
                while gateway.responder.recorder.meterFailure != nil, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(gateway.responder.recorder.meterFailure == nil)
                #expect(try await Self.get(gateway, "/readyz").status == .ok)
                #expect(try await gateway.start(ChatRequest()).response().status == .ok)

                let events = try await gateway.recordedEvents()
                #expect(events.count == reached.value, "every answer the provider gave has its event")
                #expect(Set(events.map(\.id)).count == events.count)
            }
        }
    }
}
