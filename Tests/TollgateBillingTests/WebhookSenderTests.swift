import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing
import TollgateCore

@testable import TollgateBilling
@testable import TollgateStore

/// The webhook sender against a receiver on loopback: signed deliveries, failures that back off and count attempts,
/// `Retry-After`, giving up after `maxAttempts`, and each alert accepted exactly once.
@Suite("Webhook sender")
struct WebhookSenderTests {
    /// The start of 2026.
    static let yearStartMs: Int64 = 1_767_225_600_000
    /// When the test alerts fire: 1.5 s into 2026.
    static let firedMs = yearStartMs + 1500
    /// The time of the first pass.
    static let nowMs = yearStartMs + 2000
    static let secret = "whsec_do_not_log"

    // MARK: - Pure parts

    @Test("the signature is hex HMAC-SHA256 of \"<t>.<body>\" under the secret")
    func signatureVector() {
        // Computed independently: python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test", b"1700000000.{\"a\":1}",
        // hashlib.sha256).hexdigest())'
        #expect(
            WebhookSender.signature(secret: "whsec_test", timestamp: 1_700_000_000, body: Array(#"{"a":1}"#.utf8))
                == "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789")
    }

    @Test(
        "the wait doubles from 1 s per failed attempt up to the maximum, is jittered down to half, and honours Retry-After",
        arguments: [
            (0, 300.0, nil, 1.0, 1000), (0, 300.0, nil, 0.5, 500), (3, 300.0, nil, 1.0, 8000), (3, 300.0, nil, 0.75, 6000),
            (9, 300.0, nil, 1.0, 300_000), (10_000, 300.0, nil, 1.0, 300_000), (2, 1.5, nil, 1.0, 1500),
            (0, 300.0, 120, 0.5, 120_000), (8, 300.0, 120, 1.0, 256_000), (0, 300.0, 10_000_000, 1.0, 86_400_000),
        ] as [(Int, Double, Int?, Double, Int64)])
    func retryDelay(attempts: Int, maxBackoffSeconds: Double, retryAfter: Int?, jitter: Double, expectedMs: Int64) {
        #expect(
            WebhookSender.retryDelayMs(attempts: attempts, maxBackoffSeconds: maxBackoffSeconds, retryAfterSeconds: retryAfter, jitter: jitter)
                == expectedMs)
    }

    @Test("the body is a limit.threshold_crossed event: decimal strings for amounts, ISO 8601 times, null for what is absent")
    func body() throws {
        let money = try Self.decode(WebhookSender.body(for: Self.alert("alr_m")))
        #expect(money["type"] as? String == "limit.threshold_crossed")
        #expect(money["id"] as? String == "alr_m")
        #expect(money["created"] as? String == "2026-01-01T00:00:01.500Z")
        let data = try #require(money["data"] as? [String: Any])
        #expect(data["limit_id"] as? String == "lim_a" && data["scope"] as? String == "customer" && data["scope_id"] as? String == "acme")
        #expect(data["metric"] as? String == "money" && data["period"] as? String == "month" && data["enforcement"] as? String == "hard")
        #expect(data["threshold"] as? Int == 80)
        #expect(data["amount"] as? String == "100.000000001" && data["used"] as? String == "80.25" && data["currency"] as? String == "USD")
        #expect(data["period_start"] as? String == "2026-01-01T00:00:00Z" && data["period_end"] as? String == "2026-02-01T00:00:00Z")

        var tokens = Self.alert("alr_t")
        (tokens.metric, tokens.amount, tokens.used, tokens.currency, tokens.periodEndMs, tokens.period) = (
            .tokens, "1000000", "1000001", nil, nil, .total
        )
        let open = try #require(try Self.decode(WebhookSender.body(for: tokens))["data"] as? [String: Any])
        #expect(open["period_end"] is NSNull && open["currency"] is NSNull)
        #expect(open["amount"] as? String == "1000000")
    }

    // MARK: - Deliveries

    @Test("a delivery carries the event id and a signature the receiver can verify, and is marked delivered")
    func signedDelivery() async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            try await withReceiver { port, inbox in
                let sender = Self.sender(meter: meter, port: port)
                #expect(await sender.deliverDue(nowMs: Self.nowMs) == 1)
                #expect(await sender.deliverDue(nowMs: Self.nowMs + 60_000) == 0)

                let received = await inbox.received
                try #require(received.count == 1)
                let delivery = received[0]
                #expect(delivery.path == "/hooks/tollgate")
                #expect(delivery.header("Content-Type") == "application/json")
                #expect(delivery.header("User-Agent") == "tollgate")
                #expect(delivery.header("Tollgate-Event-Id") == "alr_1")
                #expect(try Self.decode(delivery.body)["id"] as? String == "alr_1")

                let signature = try #require(delivery.header("Tollgate-Signature"))
                let parts = Dictionary(
                    uniqueKeysWithValues: signature.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1) }.map {
                        (String($0[0]), String($0[1]))
                    })
                #expect(parts["t"] == String(Self.nowMs / 1000))
                var mac = HMAC<SHA256>(key: SymmetricKey(data: Data(Self.secret.utf8)))
                mac.update(data: Data((parts["t"]! + ".").utf8) + Data(delivery.body))
                #expect(parts["v1"] == mac.finalize().map { String(format: "%02x", $0) }.joined())
            }
            let stored = try #require(try await meter.alerts().first)
            #expect(stored.deliveredMs == Self.nowMs && stored.attempts == 1 && stored.lastError == nil)
        }
    }

    @Test("without a secret a delivery is unsigned")
    func unsigned() async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            try await withReceiver { port, inbox in
                #expect(await Self.sender(meter: meter, port: port, secret: nil).deliverDue(nowMs: Self.nowMs) == 1)
                let received = await inbox.received
                #expect(received.count == 1 && received.first?.header("Tollgate-Signature") == nil)
            }
        }
    }

    @Test("receiver down: attempts are counted and backed off; once it is up the alert is delivered exactly once")
    func receiverDownThenUp() async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            // A port that was free a moment ago, with nothing listening on it now.
            let port = try await withReceiver { port, _ in port }
            let logs = LogRecorder()
            // The client keeps trying to connect until the attempt's deadline: keep it short.
            let sender = Self.sender(meter: meter, port: port, attemptTimeout: .milliseconds(300), logger: logs.logger)

            #expect(await sender.deliverDue(nowMs: Self.nowMs) == 0)
            var stored = try #require(try await meter.alerts().first)
            #expect(stored.attempts == 1 && stored.deliveredMs == nil && stored.lastError?.isEmpty == false)
            #expect((Self.nowMs + 500...Self.nowMs + 1000).contains(stored.nextAttemptMs))

            // Not due yet: no attempt.
            #expect(await sender.deliverDue(nowMs: stored.nextAttemptMs - 1) == 0)
            #expect(try await meter.alerts().first?.attempts == 1)

            let secondTry = stored.nextAttemptMs
            #expect(await sender.deliverDue(nowMs: secondTry) == 0)
            stored = try #require(try await meter.alerts().first)
            #expect(stored.attempts == 2)
            #expect((secondTry + 1000...secondTry + 2000).contains(stored.nextAttemptMs))
            #expect(logs.entries(at: .warning).count == 2)
            #expect(logs.entries(at: .warning).allSatisfy { $0.contains("alr_1") })

            let thirdTry = stored.nextAttemptMs
            try await withReceiver(port: port) { _, inbox in
                #expect(await sender.deliverDue(nowMs: thirdTry) == 1)
                #expect(await sender.deliverDue(nowMs: thirdTry + 3_600_000) == 0)
                #expect(await inbox.received.count == 1)
            }
            stored = try #require(try await meter.alerts().first)
            #expect(stored.deliveredMs == thirdTry && stored.attempts == 3)
            #expect(logs.all.allSatisfy { !$0.contains(Self.secret) })
        }
    }

    @Test("a 500 is a failed attempt with the reply in the error; the retry is accepted")
    func serverErrorThenSuccess() async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            try await withReceiver(replies: [Reply(status: 500, body: "database\nbusy")]) { port, inbox in
                let sender = Self.sender(meter: meter, port: port)
                #expect(await sender.deliverDue(nowMs: Self.nowMs) == 0)
                let failed = try #require(try await meter.alerts().first)
                #expect(failed.attempts == 1 && failed.lastError == "HTTP 500: database busy")

                #expect(await sender.deliverDue(nowMs: failed.nextAttemptMs) == 1)
                #expect(await sender.deliverDue(nowMs: failed.nextAttemptMs + 3_600_000) == 0)
                let received = await inbox.received
                #expect(received.map { $0.header("Tollgate-Event-Id") } == ["alr_1", "alr_1"])
            }
            let delivered = try #require(try await meter.alerts().first)
            #expect(delivered.deliveredMs != nil && delivered.attempts == 2)
        }
    }

    @Test("a receiver that does not answer within the attempt's time is a failed attempt")
    func slowReceiver() async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            try await withReceiver(replies: [Reply(status: 200, delay: .seconds(1))]) { port, inbox in
                let sender = Self.sender(meter: meter, port: port, attemptTimeout: .milliseconds(200))
                #expect(await sender.deliverDue(nowMs: Self.nowMs) == 0)
                let failed = try #require(try await meter.alerts().first)
                #expect(failed.attempts == 1 && failed.deliveredMs == nil)
                #expect(failed.lastError?.hasPrefix("no response within") == true, "\(failed.lastError ?? "-")")
                #expect(await sender.deliverDue(nowMs: failed.nextAttemptMs) == 1)
                #expect(await inbox.received.count == 2)
            }
        }
    }

    @Test("a 429 or 503 with Retry-After waits at least that long", arguments: [429, 503])
    func retryAfter(status: Int) async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            let replies = [Reply(status: status, headers: ["Retry-After": "120"])]
            try await withReceiver(replies: replies) { port, inbox in
                let sender = Self.sender(meter: meter, port: port)
                #expect(await sender.deliverDue(nowMs: Self.nowMs) == 0)
                let failed = try #require(try await meter.alerts().first)
                #expect(failed.nextAttemptMs >= Self.nowMs + 120_000)
                #expect(failed.lastError == "HTTP \(status)")

                #expect(await sender.deliverDue(nowMs: Self.nowMs + 119_999) == 0)
                #expect(await inbox.received.count == 1)
                #expect(await sender.deliverDue(nowMs: failed.nextAttemptMs) == 1)
                #expect(await inbox.received.count == 2)
            }
        }
    }

    @Test("after maxAttempts the alert is given up: no more attempts, one error logged, undelivered")
    func givenUp() async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            let replies = Array(repeating: Reply(status: 500), count: 5)
            try await withReceiver(replies: replies) { port, inbox in
                let logs = LogRecorder()
                let sender = Self.sender(meter: meter, port: port, maxAttempts: 3, logger: logs.logger)
                for pass in 0..<5 {
                    #expect(await sender.deliverDue(nowMs: Self.nowMs + Int64(pass) * 3_600_000) == 0)
                }
                #expect(await inbox.received.count == 3)
                #expect(logs.entries(at: .warning).count == 3)
                let errors = logs.entries(at: .error)
                #expect(errors.count == 1 && errors.first?.contains("alr_1") == true)
                #expect(logs.all.allSatisfy { !$0.contains(Self.secret) })
            }
            let stored = try #require(try await meter.alerts(pendingOnly: true).first)
            #expect(stored.attempts == 3 && stored.deliveredMs == nil && stored.lastError == "HTTP 500")
        }
    }

    @Test("one pass delivers every due alert, several at a time")
    func manyAlerts() async throws {
        try await withAlertMeter { meter in
            let alerts = (0..<20).map { Self.alert("alr_\($0)", limit: "lim_\($0)") }
            try await Self.insert(alerts, into: meter)
            try await withReceiver { port, inbox in
                #expect(await Self.sender(meter: meter, port: port).deliverDue(nowMs: Self.nowMs) == 20)
                #expect(Set(await inbox.received.compactMap { $0.header("Tollgate-Event-Id") }) == Set(alerts.map(\.id)))
            }
            #expect(try await meter.alerts(pendingOnly: true).isEmpty)
        }
    }

    @Test(
        "with no webhook URL the service sends nothing and idles until stopped (returning would end the service group)",
        arguments: [nil, "", "ftp://example.com/hook"] as [String?])
    func noWebhook(url: String?) async throws {
        try await withAlertMeter { meter in
            try await Self.insert([Self.alert("alr_1")], into: meter)
            var settings = AlertSettings()
            settings.webhookURL = url
            let sender = WebhookSender(meter: meter, settings: settings, pollInterval: .milliseconds(10), logger: Logger(label: "test"))
            let returned = Flag()
            let running = Task {
                defer { returned.set() }
                try await sender.run()
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(!returned.isSet, "run() returned before it was stopped: that would end the service group")
            running.cancel()
            _ = await running.result
            #expect(await sender.deliverDue(nowMs: Self.nowMs) == 0)
            #expect(try await meter.alerts().first?.attempts == 0)
        }
    }

    @Test("the service delivers on its own every poll interval until cancelled")
    func runLoop() async throws {
        try await withAlertMeter { meter in
            try await withReceiver { port, inbox in
                var settings = AlertSettings()
                settings.webhookURL = "http://127.0.0.1:\(port)/hook"
                let sender = WebhookSender(meter: meter, settings: settings, pollInterval: .milliseconds(20), logger: Logger(label: "test"))
                let running = Task { try await sender.run() }
                var alert = Self.alert("alr_1")
                alert.firedMs = Int64(Date().timeIntervalSince1970 * 1000)
                alert.nextAttemptMs = alert.firedMs
                try await Self.insert([alert], into: meter)
                for _ in 0..<250 {
                    if try await meter.alerts(pendingOnly: true).isEmpty { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                running.cancel()
                _ = await running.result
                #expect(await inbox.received.count == 1)
                #expect(try await meter.alerts(pendingOnly: true).isEmpty)
            }
        }
    }

    // MARK: - Helpers

    /// A money alert of limit `limit`, fired 1.5 s into 2026, for the month.
    static func alert(_ id: String, limit: String = "lim_a") -> AlertRecord {
        AlertRecord(
            id: id, limitID: limit, periodStartMs: yearStartMs, threshold: 80, scope: .customer, scopeID: "acme", metric: .money, period: .month,
            enforcement: .hard, amount: "100.000000001", used: "80.25", currency: "USD", periodEndMs: 1_769_904_000_000, firedMs: firedMs)
    }

    static func insert(_ records: [AlertRecord], into meter: MeterStore) async throws {
        try await meter.database.write { db in
            for record in records { _ = try MeterStore.insertAlert(db, record) }
        }
    }

    static func sender(
        meter: MeterStore, port: Int, secret: String? = secret, maxAttempts: Int = 20, attemptTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "test")
    ) -> WebhookSender {
        var settings = AlertSettings()
        settings.webhookURL = "http://127.0.0.1:\(port)/hooks/tollgate"
        settings.secret = secret
        settings.maxAttempts = maxAttempts
        return WebhookSender(meter: meter, settings: settings, attemptTimeout: attemptTimeout, logger: logger)
    }

    static func decode(_ body: [UInt8]) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }
}

// MARK: - MeterStore

/// Runs `body` with a meter on a new file in a temporary folder, removed afterwards.
private func withAlertMeter<T>(_ body: (MeterStore) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-webhook-tests-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(MeterStore(path: directory.appendingPathComponent("meter.db").path))
}

// MARK: - Receiver

/// A scripted answer of the receiver.
private struct Reply: Sendable {
    var status: Int
    var headers: [String: String] = [:]
    var body = ""
    /// How long the receiver takes to answer.
    var delay: Duration = .zero
}

/// A request the receiver got.
private struct Received: Sendable {
    let path: String
    let headers: HTTPFields
    let body: [UInt8]

    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

/// What the receiver got, and the replies it has left to give (200 once they run out).
private actor Inbox {
    private(set) var received: [Received] = []
    private var replies: [Reply]

    init(replies: [Reply]) { self.replies = replies }

    func take(_ request: Received) -> Reply {
        received.append(request)
        return replies.isEmpty ? Reply(status: 200, body: "ok") : replies.removeFirst()
    }
}

/// Runs `body` with a webhook receiver listening on 127.0.0.1 (`port`, or any free port with 0) and stops it after.
private func withReceiver<T: Sendable>(
    port: Int = 0, replies: [Reply] = [], _ body: (_ port: Int, _ inbox: Inbox) async throws -> T
) async throws -> T {
    let inbox = Inbox(replies: replies)
    let router = Router()
    router.post("**") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let reply = await inbox.take(Received(path: request.uri.path, headers: request.headers, body: Array(buffer: bytes)))
        try await Task.sleep(for: reply.delay)
        var headers = HTTPFields()
        for (name, value) in reply.headers { headers[HTTPField.Name(name)!] = value }
        return Response(status: .init(code: reply.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
    }
    var logger = Logger(label: "webhook-receiver")
    logger.logLevel = .critical
    let (ports, bound) = AsyncStream.makeStream(of: Int.self)
    let application = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
        onServerRunning: { channel in bound.yield(channel.localAddress?.port ?? 0) }, logger: logger)
    let server = Task {
        defer { bound.finish() }
        try await application.runService(gracefulShutdownSignals: [])
    }
    defer { server.cancel() }
    var iterator = ports.makeAsyncIterator()
    guard let listening = await iterator.next() else {
        try await server.value
        throw CancellationError()
    }
    let result: Result<T, any Error>
    do {
        result = .success(try await body(listening, inbox))
    } catch {
        result = .failure(error)
    }
    server.cancel()
    _ = await server.result
    return try result.get()
}

/// A mark one task sets and another reads.
private final class Flag: Sendable {
    private let state = Mutex(false)

    var isSet: Bool { state.withLock { $0 } }

    func set() { state.withLock { $0 = true } }
}

// MARK: - Logs

/// Keeps every log line (message and metadata) a logger made, by level.
private final class LogRecorder: Sendable {
    private let lines = Mutex<[(level: Logger.Level, text: String)]>([])

    var logger: Logger {
        Logger(label: "recorded") { _ in Handler(recorder: self) }
    }

    var all: [String] { lines.withLock { $0.map(\.text) } }

    func entries(at level: Logger.Level) -> [String] { lines.withLock { $0.filter { $0.level == level }.map(\.text) } }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(event.message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            recorder.lines.withLock { $0.append((event.level, text)) }
        }
    }
}
