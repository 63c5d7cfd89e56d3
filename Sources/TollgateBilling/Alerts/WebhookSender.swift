import AsyncHTTPClient
import CoreMetrics
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TollgateCore
import TollgateStore

/// Delivers limit alerts (threshold crossings stored by settlement) to the configured webhook, at least once.
///
/// Every `pollInterval` it takes the alerts whose delivery is due and POSTs each as a `limit.threshold_crossed`
/// event, signed like Stripe's webhooks when a secret is set (`Tollgate-Signature: t=…,v1=…`). A 2xx marks the alert
/// delivered; anything else (a status, a refused connection, no answer within 10 s) counts an attempt and schedules the
/// next one with exponential backoff and jitter, later still when a 429 or 503 says `Retry-After`. After
/// `maxAttempts` the alert is given up: kept undelivered, with its last error, for `tollgate limits alerts`.
///
/// Receivers may see an alert twice (a response lost on the way back, two instances on one meter): they drop
/// repeats by the `Tollgate-Event-Id` header. Delivery runs in this service's own task and never touches a
/// request's path. With no webhook URL configured it sends nothing (alerts are in the log and the meter).
public final class WebhookSender: Service, Sendable {
    /// Deliveries in flight at once within a pass, so that one slow receiver does not hold back the rest.
    static let concurrentDeliveries = 8

    /// The client deliveries go through when none is given: lives as long as the process, so it needs no
    /// shutdown. Redirects are not followed (a 3xx is a failed delivery, as with Stripe).
    public static let sharedClient = HTTPClient(
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(10)), decompression: .disabled))

    let meter: MeterStore
    let settings: AlertSettings
    let http: HTTPClient
    let pollInterval: Duration
    let attemptTimeout: Duration
    /// With several replicas on one meter: only the holder delivers.
    let lease: FleetLease?
    let logger: Logger
    /// Whether a pass is running: a second pass started meanwhile (a test, a slow tick) leaves the alerts to it
    /// instead of sending them twice.
    private let passRunning = Mutex(false)

    /// Creates a sender of the alerts in `meter` to `settings.webhookURL`, looking for due ones every
    /// `pollInterval`. `attemptTimeout` bounds one attempt, connection and response included (a receiver that
    /// refuses connections also takes that long to fail: the client keeps trying to connect until then).
    public init(
        meter: MeterStore, settings: AlertSettings, http: HTTPClient = WebhookSender.sharedClient, pollInterval: Duration = .seconds(1),
        attemptTimeout: Duration = .seconds(10), lease: FleetLease? = nil, logger: Logger
    ) {
        self.lease = lease
        self.meter = meter
        self.settings = settings
        self.http = http
        self.pollInterval = pollInterval
        self.attemptTimeout = attemptTimeout
        self.logger = logger
    }

    /// Delivers due alerts every `pollInterval` until cancelled or a graceful shutdown. With no webhook URL (or
    /// one that is not http(s)) it sends nothing and just waits for the shutdown: a service that returns early
    /// would end the whole service group (ServiceLifecycle's default `successTerminationBehavior`).
    public func run() async throws {
        guard let url = settings.webhookURL, Self.isHTTPURL(url) else {
            if settings.webhookURL?.isEmpty == false {
                logger.error("alerts.webhook_url is not an http:// or https:// URL: alerts go to the log only")
            }
            try? await gracefulShutdown()
            return
        }
        let pollInterval = self.pollInterval
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if await self.lease?.hold() ?? true { _ = await self.deliverDue(nowMs: Timestamps.nowMs()) }
                try? await Task.sleep(for: pollInterval)
            }
        }
        await lease?.release()
    }

    /// One pass: delivers the alerts due at `nowMs` and records each outcome. Returns how many were delivered.
    /// Never throws: every failure is logged and recorded on its alert.
    func deliverDue(nowMs: Int64) async -> Int {
        guard let url = settings.webhookURL, Self.isHTTPURL(url) else { return 0 }
        let started = passRunning.withLock { running in
            if running { return false }
            running = true
            return true
        }
        guard started else { return 0 }
        defer { passRunning.withLock { $0 = false } }
        let due: [AlertRecord]
        do {
            due = try await meter.dueAlerts(nowMs: nowMs, maxAttempts: settings.maxAttempts)
        } catch {
            logger.warning("cannot read the alerts due for delivery", metadata: ["error": "\(error)"])
            return 0
        }
        return await withTaskGroup(of: Bool.self) { group in
            var waiting = due.makeIterator()
            for _ in 0..<Self.concurrentDeliveries {
                guard let alert = waiting.next() else { break }
                group.addTask { await self.deliver(alert, to: url, nowMs: nowMs) }
            }
            var delivered = 0
            for await accepted in group {
                if accepted { delivered += 1 }
                if let alert = waiting.next() { group.addTask { await self.deliver(alert, to: url, nowMs: nowMs) } }
            }
            return delivered
        }
    }

    /// Sends one alert and records the outcome; `true` when the receiver accepted it.
    private func deliver(_ alert: AlertRecord, to url: String, nowMs: Int64) async -> Bool {
        let outcome = await attempt(alert, to: url, nowMs: nowMs)
        // Cut short by shutdown: not the receiver's fault, so no attempt is counted; it goes again on the next start.
        if Task.isCancelled, outcome.failure != nil { return false }
        Counter(label: MetricName.alerts, dimensions: [("outcome", outcome.failure == nil ? "sent" : "failed")]).increment()
        do {
            guard let failure = outcome.failure else {
                try await meter.markAlertDelivered(id: alert.id, nowMs: nowMs)
                logger.info("alert delivered", metadata: ["alert_id": "\(alert.id)", "limit_id": "\(alert.limitID)"])
                return true
            }
            let delayMs = Self.retryDelayMs(
                attempts: alert.attempts, maxBackoffSeconds: settings.maxBackoffSeconds, retryAfterSeconds: outcome.retryAfterSeconds,
                jitter: Double.random(in: 0.5...1))
            try await meter.markAlertFailed(id: alert.id, error: failure, nextAttemptMs: nowMs + delayMs)
            let attempts = alert.attempts + 1
            logger.warning(
                "alert delivery failed", metadata: ["alert_id": "\(alert.id)", "error": "\(failure)", "attempts": "\(attempts)"])
            if attempts >= settings.maxAttempts {
                logger.error(
                    "alert given up after \(attempts) delivery attempts", metadata: ["alert_id": "\(alert.id)", "error": "\(failure)"])
            }
        } catch {
            logger.warning("cannot record an alert delivery", metadata: ["alert_id": "\(alert.id)", "error": "\(error)"])
        }
        return false
    }

    /// What one POST came to: accepted (`failure == nil`) or why not, and the wait the receiver asked for.
    private struct Outcome {
        var failure: String?
        var retryAfterSeconds: Int?
    }

    private func attempt(_ alert: AlertRecord, to url: String, nowMs: Int64) async -> Outcome {
        let body = Self.body(for: alert)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "tollgate")
        request.headers.add(name: "Tollgate-Event-Id", value: alert.id)
        if let secret = settings.secret, !secret.isEmpty {
            let timestamp = Int(nowMs / 1000)
            request.headers.add(
                name: "Tollgate-Signature", value: "t=\(timestamp),v1=\(Self.signature(secret: secret, timestamp: timestamp, body: body))")
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(attemptTimeout.nanoseconds))
            // Read (a little of) the body whatever the status, so that the connection can be used again.
            let body = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
            let reply = HTTPReply(status: Int(response.status.code), headers: response.headers, body: body)
            if (200..<300).contains(reply.status) { return Outcome() }
            return Outcome(failure: reply.summary(excerpt: 200), retryAfterSeconds: reply.retryAfterSeconds)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return Outcome(failure: "no response within \(attemptTimeout) (\(error))")
        } catch {
            return Outcome(failure: "\(error)")
        }
    }

    /// The wait before the next attempt after `attempts` failed ones: 1 s doubled per attempt up to
    /// `maxBackoffSeconds`, jittered, never less than the receiver's `Retry-After` (``RetryBackoff``).
    static func retryDelayMs(attempts: Int, maxBackoffSeconds: Double, retryAfterSeconds: Int?, jitter: Double) -> Int64 {
        RetryBackoff.delayMs(attempts: attempts, maxBackoffSeconds: maxBackoffSeconds, retryAfterSeconds: retryAfterSeconds, jitter: jitter)
    }

    /// `hex(HMAC-SHA256(secret, "<timestamp>.<body>"))`: the `v1` of the `Tollgate-Signature` header. A receiver
    /// recomputes it over the raw body and the header's `t`, and refuses old timestamps to stop replays.
    static func signature(secret: String, timestamp: Int, body: [UInt8]) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: Data(secret.utf8)))
        mac.update(data: Data("\(timestamp).".utf8))
        mac.update(data: body)
        return Hex.lowercase(Array(mac.finalize()))
    }

    /// The JSON document POSTed for an alert: amounts as decimal strings, times in ISO 8601.
    static func body(for alert: AlertRecord) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every member is a string, number or null: encoding cannot fail.
        return Array(try! encoder.encode(ThresholdCrossed(alert: alert)))
    }

    /// `limit.threshold_crossed` as it goes on the wire; `currency` and `period_end` are `null` when absent.
    private struct ThresholdCrossed: Encodable {
        let alert: AlertRecord

        enum Keys: String, CodingKey {
            case type, id, created, data
        }

        enum DataKeys: String, CodingKey {
            case limitID = "limit_id"
            case scope
            case scopeID = "scope_id"
            case metric, period, enforcement, threshold, amount, used, currency
            case periodStart = "period_start"
            case periodEnd = "period_end"
        }

        func encode(to encoder: any Encoder) throws {
            var event = encoder.container(keyedBy: Keys.self)
            try event.encode(alert.kind.rawValue, forKey: .type)
            try event.encode(alert.id, forKey: .id)
            try event.encode(Timestamps.iso8601(alert.firedMs), forKey: .created)
            var data = event.nestedContainer(keyedBy: DataKeys.self, forKey: .data)
            try data.encode(alert.limitID, forKey: .limitID)
            try data.encode(alert.scope, forKey: .scope)
            try data.encode(alert.scopeID, forKey: .scopeID)
            try data.encode(alert.metric, forKey: .metric)
            try data.encode(alert.period, forKey: .period)
            try data.encode(alert.enforcement, forKey: .enforcement)
            try data.encode(alert.threshold, forKey: .threshold)
            try data.encode(alert.amount, forKey: .amount)
            try data.encode(alert.used, forKey: .used)
            try data.encode(alert.currency, forKey: .currency)
            try data.encode(Timestamps.iso8601(alert.periodStartMs), forKey: .periodStart)
            try data.encode(alert.periodEndMs.map(Timestamps.iso8601), forKey: .periodEnd)
        }
    }

    private static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else { return false }
        return scheme == "http" || scheme == "https"
    }

}

extension WebhookSender: CustomStringConvertible {
    /// How the service is named in logs (never its settings, which hold secrets).
    public var description: String { "WebhookSender" }
}
