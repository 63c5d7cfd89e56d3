import Foundation
import TollgateCore
import TollgateStore

/// Stripe (`base_url: https://api.stripe.com`), form-encoded, one line per request, in one of two modes (`mode:`):
///
/// - `invoice_items` (default; amounts Tollgate rated): `POST /v1/invoiceitems` with `customer` (the customer's
///   Stripe id), `currency` (lowercase), `amount` (the line's amount due — rounded half to even to the minor unit —
///   as a whole number of the currency's smallest unit: cents for USD, yen for JPY, fils for KWD), `description`,
///   `period[start]`/`period[end]` (the charge period, Unix seconds) and `metadata[...]` (`tollgate_key`, `customer`,
///   `period`, `meter`, `kind`, `model`, `quantity`, `version`, `amount` — the exact amount —, `currency`, and
///   `correction: true` + `original_period` for a correction). Invoice items have no dedupe field: the
///   `Idempotency-Key` header (the line's key) is the only protection; Stripe replays the first answer to a repeat.
/// - `meter_events` (token counts Stripe rates): `POST /v1/billing/meter_events` with `event_name` (the sink's
///   `event_name`, ≤ 100 characters), `payload[stripe_customer_id]`, `payload[value]` (a whole number: a usage
///   line's total tokens — input + cache read + cache write + output —, a charge line's quantity), `identifier` (the
///   line's key: Stripe's dedupe) and `timestamp` (the usage time, Unix seconds; Stripe refuses times more than 35
///   days back). What a meter event cannot carry goes without a request: a correction whose value is zero or
///   negative is refused (meter events only add; `meter_event_adjustments` only cancel within 24 h), and fee,
///   discount and minimum lines are held (no usage to count: price those in Stripe, or export them to a second sink
///   with `invoice_items`).
///
/// Answers: 2xx sent; a 400 `resource_already_exists` for the identifier (an earlier attempt got through) sent; an
/// `idempotency_error` (the key was used with other parameters) and other 4xx refused with Stripe's message; 409
/// (the same key in flight), 429 (with `Retry-After`) and 5xx retried; no answer retried.
struct StripeSink: BillingSink {
    /// What the sink sends.
    typealias Mode = SinkSettings.StripeMode

    /// One request: form fields in order and the `Idempotency-Key` header, if any; or why the line cannot be sent.
    enum Request {
        case post(path: String, fields: [(name: String, value: String)], idempotencyKey: String?)
        case refuse(String)
        case hold(String)
    }

    let settings: SinkSettings
    var http: SinkHTTP

    /// Stripe's limit on `event_name` and `identifier`.
    static let maxNameLength = 100
    /// Stripe's limits on metadata values.
    static let maxMetadataValueLength = 500

    /// A sink with its settings.
    init(settings: SinkSettings) {
        self.settings = settings
        self.http = SinkHTTP(settings: settings)
    }

    var mode: Mode { settings.stripeMode }
    var batchLimit: Int { 1 }
    var needsCustomerID: Bool { true }

    func send(_ lines: [OutboundLine]) async -> [SendOutcome] {
        var outcomes: [SendOutcome] = []
        for line in lines { outcomes.append(await send(line)) }
        return outcomes
    }

    /// Sends one line.
    func send(_ line: OutboundLine) async -> SendOutcome {
        switch Self.request(line, mode: mode, eventName: settings.eventName) {
        case .refuse(let reason):
            return .rejected(reason)
        case .hold(let reason):
            return .held(reason)
        case .post(let path, let fields, let idempotencyKey):
            do throws(SinkTransportError) {
                let reply = try await http.post(
                    path: path, contentType: "application/x-www-form-urlencoded", body: SinkHTTP.formEncoded(fields.map { ($0.name, $0.value) }),
                    headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
                return Self.outcome(reply)
            } catch {
                return .retry(error.description, retryAfterSeconds: nil)
            }
        }
    }

    /// The request for a line in a mode.
    static func request(_ line: OutboundLine, mode: Mode, eventName: String) -> Request {
        guard let customer = line.externalCustomerID, !customer.isEmpty else {
            return .refuse("customer \(line.line.customer) has no Stripe customer id")
        }
        switch mode {
        case .invoiceItems: return invoiceItem(line.line, customer: customer)
        case .meterEvents: return meterEvent(line.line, customer: customer, eventName: eventName)
        }
    }

    /// `POST /v1/invoiceitems` for a line.
    static func invoiceItem(_ line: ExportLine, customer: String) -> Request {
        var fields: [(name: String, value: String)] = [
            ("customer", customer), ("currency", line.currency.lowercased()), ("amount", smallestUnits(line.amountDue, currency: line.currency)),
            ("description", line.description), ("period[start]", String(SinkWire.unixSeconds(line.periodStartMs))),
            ("period[end]", String(SinkWire.unixSeconds(line.periodEndMs))),
        ]
        var metadata: [(String, String)] = [
            ("tollgate_key", line.key), ("customer", line.customer), ("period", line.period), ("meter", line.meter), ("kind", line.kind.rawValue),
        ]
        if let model = line.model { metadata.append(("model", model)) }
        metadata += [
            ("quantity", String(line.quantity)), ("version", String(line.version)), ("amount", line.amount.description),
            ("currency", line.currency),
        ]
        if line.isCorrection { metadata += [("correction", "true"), ("original_period", line.period)] }
        fields += metadata.map { ("metadata[\($0.0)]", String($0.1.prefix(maxMetadataValueLength))) }
        return .post(path: "/v1/invoiceitems", fields: fields, idempotencyKey: line.key)
    }

    /// `POST /v1/billing/meter_events` for a line, or why it cannot be one.
    static func meterEvent(_ line: ExportLine, customer: String, eventName: String) -> Request {
        guard !eventName.isEmpty, eventName.count <= maxNameLength else {
            return .refuse("Stripe meter events need an event_name of 1 to \(maxNameLength) characters, not \(eventName.count)")
        }
        guard line.key.count <= maxNameLength else { return .refuse("the key \(line.key) is longer than Stripe's \(maxNameLength)") }
        let value: Int
        switch line.kind {
        case .usage:
            value = line.usage.inputTokens + line.usage.cacheReadTokens + line.usage.cacheWriteTokens + line.usage.outputTokens
        case .charge:
            value = line.quantity
        case .baseFee, .discount, .minimum:
            return .hold(
                "a \(line.kind.rawValue) line (\(line.amount) \(line.currency)) has no usage for a Stripe meter event: "
                    + "price it in Stripe, or export with mode invoice_items")
        }
        if line.isCorrection, value <= 0 {
            return .refuse(
                "correction \(line.version) of \(line.period) changes the meter by \(value): Stripe meter events only add "
                    + "(meter_event_adjustments only cancel within 24 h); adjust the invoice in Stripe, or export with mode invoice_items")
        }
        guard value >= 0 else { return .refuse("a meter event value must be a whole number, not \(value)") }
        return .post(
            path: "/v1/billing/meter_events",
            fields: [
                ("event_name", eventName), ("payload[stripe_customer_id]", customer), ("payload[value]", String(value)), ("identifier", line.key),
                ("timestamp", String(SinkWire.unixSeconds(line.usageMs))),
            ], idempotencyKey: nil)
    }

    /// An amount in the currency's smallest unit as an integer (the amount is rounded to the minor unit already).
    static func smallestUnits(_ amount: Money, currency: String) -> String {
        String(SinkWire.minorUnits(amount.rounded(toDigits: Currency.minorUnits(currency.uppercased())), currency: currency).raw / Money.scale)
    }

    /// What Stripe's answer means.
    static func outcome(_ reply: HTTPReply) -> SendOutcome {
        let outcome = reply.outcome
        guard case .rejected = outcome else { return outcome }
        let error = (SinkWire.jsonObject(reply.body) as? [String: Any])?["error"] as? [String: Any]
        let type = error?["type"] as? String
        let code = error?["code"] as? String
        let param = error?["param"] as? String
        let message = error?["message"] as? String
        if code == "resource_already_exists", param == nil || param == "identifier" { return .sent }
        guard let message else { return .rejected("Stripe refused the line: \(reply.summary)") }
        if type == "idempotency_error" {
            return .rejected(
                "Stripe refused the line (HTTP \(reply.status) idempotency_error): \(message) An earlier request under this key "
                    + "went through with other parameters: check the customer's invoice items before retrying")
        }
        let details = [code, param.map { "param \($0)" }].compactMap { $0 }.joined(separator: ", ")
        return .rejected("Stripe refused the line (HTTP \(reply.status)): \(message)\(details.isEmpty ? "" : " (\(details))")")
    }
}
