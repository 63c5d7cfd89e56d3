/// A billing system (or file) that rated lines are exported to: `sinks: {NAME: {type, base_url, api_key, path, …}}`.
public struct SinkSettings: Sendable, Equatable {
    /// What the sink speaks.
    public enum Kind: String, Sendable, CaseIterable {
        case stripe, lago, openmeter, metronome, orb, csv, jsonl, focus

        /// Whether it writes a file rather than calling an API.
        public var isFile: Bool { self == .csv || self == .jsonl || self == .focus }
    }

    /// What a Stripe sink sends (`mode:` in the config, spelled as the raw value).
    public enum StripeMode: String, Sendable, CaseIterable {
        /// Invoice items with the amounts Tollgate rated.
        case invoiceItems = "invoice_items"
        /// Billing meter events with token counts that Stripe rates.
        case meterEvents = "meter_events"
    }

    /// The sink's name in the config (and in `tollgate export run --sink NAME`).
    public var name: String
    /// What it speaks.
    public var kind: Kind
    /// The API's origin (`https://api.stripe.com`); for tests, a simulator on loopback.
    public var baseURL: String?
    /// The API key, or the environment variable it is read from.
    public var apiKey: String?
    public var apiKeyEnv: String?
    /// The file a file sink writes; `{period}` is replaced by the period (`exports/lines-{period}.csv`).
    public var path: String?
    /// The name of the billing system's customer ids on the customers (`tollgate customers set --external
    /// SYSTEM=ID`): the sink's type unless set.
    public var customerIDSystem: String?
    /// Stripe only: what the sink sends; invoice items unless set.
    public var stripeMode: StripeMode = .invoiceItems
    /// The meter or event name the sink's system knows the usage by (Stripe's event_name, Lago's code, OpenMeter's
    /// type, Metronome's event_type, Orb's event_name). Default `tollgate_usage`.
    public var eventName: String = "tollgate_usage"
    /// Request timeout, seconds.
    public var timeoutSeconds: Double = 30
    /// Attempts before a line is dead.
    public var maxAttempts: Int = 8
    /// The wait after the first failed attempt, seconds (doubled after each further one).
    public var initialBackoffSeconds: Double = 1
    /// The longest wait between attempts, seconds.
    public var maxBackoffSeconds: Double = 600

    /// A sink with its defaults.
    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// The system name customer ids are looked up under.
    public var idSystem: String { customerIDSystem ?? kind.rawValue }

    /// Whether the sink takes usage as it happens (Stripe meter events, Lago, OpenMeter, Metronome, Orb: their own
    /// thresholds, invoices in progress and portals want it current), rather than billed lines when a period closes
    /// (Stripe invoice items, files).
    public var takesUsageContinuously: Bool {
        switch kind {
        case .lago, .openmeter, .metronome, .orb: true
        case .stripe: stripeMode == .meterEvents
        case .csv, .jsonl, .focus: false
        }
    }
}

/// Continuous export from `serve`.
public struct ExportSettings: Sendable, Equatable {
    /// Seconds between runs; `nil`: no continuous export (run `tollgate export run` from a scheduler instead).
    public var intervalSeconds: Double?
    /// The sinks exported to on each run (default: all).
    public var sinks: [String]?
    /// How often `serve` sends the usage of periods in progress to sinks that take usage as it happens
    /// (``SinkSettings/takesUsageContinuously``), in seconds: an event reaches them within about this long after its
    /// commit. `nil` (`continuous_s: 0`): they wait for the period to close, like the others.
    public var continuousSeconds: Double? = 20

    /// The defaults: off.
    public init() {}
}
