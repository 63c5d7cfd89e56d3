/// Everything Tollgate runs on, resolved and validated: the model behind `tollgate serve` and `tollgate check`.
///
/// Built by ``ConfigLoader`` from a YAML file (or the embedded defaults) plus the provider definitions; every
/// field has a documented default (README.md, "Configuration").
public struct TollgateConfig: Sendable {
    /// Where the proxy listens.
    public var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8787)
    /// The meter database.
    public var meter = MeterSettings()
    /// The active upstreams by name: the ones requests are forwarded to.
    public var providers: [String: Provider] = [:]
    /// Bundled provider definitions left inactive (a config without `providers:` activates a definition only when
    /// its credentials are set, and one that needs no authentication only when listed): requests for them get a
    /// 404 naming how to activate them, and their catalogs still price events (a CLI run without the provider keys
    /// rates the same as the server).
    public var inactiveProviders: [String: Provider] = [:]
    /// Why each provider, active or not, is in the state it is (``ProviderActivation``), for the startup log line
    /// and `tollgate check`.
    public var activation: [String: ProviderActivation] = [:]
    /// The provider that `/v1/...` paths go to.
    public var defaultProvider = "openai"
    /// Model names that route `/v1/...` requests to another provider (and optionally another model name).
    public var modelAliases: [String: ModelAlias] = [:]
    /// Customer prices: price books, the default one, customers' terms, the markup for customers without a book.
    public var pricing = PricingSettings()
    /// Limits and timeouts of the proxy.
    public var proxy = ProxySettings()
    /// The log: level, text or JSON lines, a line per request.
    public var log = LogSettings()
    /// The Prometheus endpoint and its labels.
    public var metrics = MetricsSettings()
    /// OpenTelemetry traces to a collector.
    public var tracing = TracingSettings()
    /// The admin listener (API and dashboard); off unless configured.
    public var admin = AdminSettings()
    /// Admission: how a request's worst-case cost is reserved against credits and caps.
    public var credits = CreditSettings()
    /// Where threshold alerts go.
    public var alerts = AlertSettings()
    /// Billing systems and files rated lines are exported to, by name.
    public var sinks: [String: SinkSettings] = [:]
    /// Continuous export from `serve`.
    public var export = ExportSettings()
    /// Retries with an `Idempotency-Key`: how long and how much of a response is kept to replay.
    public var idempotency = IdempotencySettings()

    /// The defaults, with no providers.
    public init() {}

    /// Everything that prices events, as one value.
    public var pricingRules: PricingRules {
        PricingRules(
            catalogs: inactiveProviders.merging(providers) { $1 }.mapValues(\.prices), priceBooks: pricing.priceBooks,
            defaultPriceBook: pricing.defaultPriceBook,
            markup: pricing.markup, currency: pricing.currency, customers: pricing.customers,
            fallback: { if case .fallback(let price) = pricing.unpricedModels { return price } else { return nil } }(),
            billingCycle: pricing.billingCycle ?? .calendarMonthUTC)
    }
}

extension TollgateConfig {
    /// The startup line saying which providers are active and why the others are not: `providers active: openai
    /// (OPENAI_API_KEY set); inactive: anthropic (ANTHROPIC_API_KEY unset), ollama (no authentication: …)`.
    public var activationSummary: String {
        func list(_ names: [String]) -> String {
            names.map { "\($0) (\(activation[$0]?.description ?? "listed in the config"))" }.joined(separator: ", ")
        }
        var line = "providers active: " + (providers.isEmpty ? "none" : list(providers.keys.sorted()))
        if !inactiveProviders.isEmpty { line += "; inactive: " + list(inactiveProviders.keys.sorted()) }
        if providers.isEmpty {
            line += " — every proxied request is refused until a provider's key is set (OPENAI_API_KEY …) or a config lists providers"
        }
        return line
    }
}

/// Why a provider is active, or why it is not.
public enum ProviderActivation: Sendable, Equatable, CustomStringConvertible {
    /// Listed under `providers:` in the config.
    case listed
    /// A bundled definition whose credentials are set (where they come from: `OPENAI_API_KEY set`).
    case credentials(String)
    /// A bundled definition whose credentials are not set: inactive until they are (what to set).
    case missingCredentials(String)
    /// A bundled definition that needs no authentication (a local server such as Ollama or vLLM): inactive unless
    /// the config lists it.
    case unauthenticated

    /// Whether the provider is active.
    public var isActive: Bool {
        switch self {
        case .listed, .credentials: true
        case .missingCredentials, .unauthenticated: false
        }
    }

    /// Why, in a few words (`OPENAI_API_KEY set`, `listed in the config`, `ANTHROPIC_API_KEY unset` …).
    public var description: String {
        switch self {
        case .listed: "listed in the config"
        case .credentials(let source): source
        case .missingCredentials(let missing): "\(missing) unset"
        case .unauthenticated: "no authentication: used only when listed under providers:"
        }
    }

    /// How to activate an inactive provider, for the error a request for it gets.
    public func hint(for name: String) -> String {
        switch self {
        case .listed, .credentials: return ""
        case .missingCredentials(let missing):
            return "set \(missing) in Tollgate's environment, or list it under providers: in the config"
        case .unauthenticated:
            return "it needs no credentials (a local server), so Tollgate forwards to it only when the config lists it under providers: (\(name): {})"
        }
    }
}

/// A host and port to listen on.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (`[::1]:8787` for IPv6).
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// `HOST:PORT`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How events reach the disk.
public enum Durability: Sendable, Equatable {
    /// The last bytes of a response reach the client only after its event is committed.
    case strict
    /// Responses never wait: events gather for about 5 ms and are committed together (a full batch at once), so a crash
    /// can lose the events of those last milliseconds.
    case relaxed
}

/// The meter database.
public struct MeterSettings: Sendable, Equatable {
    /// SQLite file (when `url` is not set).
    public var path = "tollgate.db"
    /// `url: postgres://user@host:5432/database?sslmode=require`: the meter in PostgreSQL, shared by replicas on
    /// several hosts (see docs/SCALING.md). A password in the URL works but is better given by `password_env` or
    /// `password_file`.
    public var url: String?
    /// The PostgreSQL password, resolved from `password_env` (the file is read when the meter opens).
    public var password: String?
    /// `password_env`: the environment variable holding the PostgreSQL password.
    public var passwordEnv: String?
    /// `password_file`: a file holding the PostgreSQL password (a mounted secret), relative to the config file.
    public var passwordFile: String?
    /// `pool_size`: connections this process keeps to PostgreSQL (default 8; the URL's `pool=` also sets it).
    public var poolSize: Int?
    /// `replica_timeout_s`: a replica whose heartbeat is older than this is gone: its credit holds are released by
    /// the others (a replica on the same host that exited is seen at once). Each replica beats every third of it
    /// (at most every 10 s).
    public var replicaTimeoutSeconds = 60.0
    /// Commit promise.
    public var durability = Durability.strict
    /// Most events written in one transaction.
    public var maxBatch = 512
    /// fsync every commit (SQLite `synchronous=FULL`): events survive power loss and OS crashes, at the cost of one
    /// fsync per batch. Off (`NORMAL`, the default), a commit survives any crash of the Tollgate process.
    public var fsync = false
    /// What inference requests get while the meter cannot write (`on_failure`).
    public var onFailure = MeterFailurePolicy.refuse
}

/// What happens to inference requests while the meter cannot write events.
public enum MeterFailurePolicy: String, Sendable, Equatable, CaseIterable {
    /// Fail closed (the default): refused with 503 before they reach the provider, until a write succeeds again.
    case refuse
    /// Served anyway; their events wait in memory (bounded) until the meter can write them.
    case serve
}

/// A model name that routes elsewhere.
public struct ModelAlias: Sendable, Equatable {
    /// Provider to send to.
    public var provider: String
    /// Model name to send instead, if different.
    public var model: String?

    /// An alias to `provider`, sending `model` instead when given.
    public init(provider: String, model: String?) {
        self.provider = provider
        self.model = model
    }
}

/// How customer prices are derived.
public struct PricingSettings: Sendable, Equatable {
    /// Price = cost × markup, for customers without a price book.
    public var markup = DecimalRatio.one
    /// Currency of prices without a book (and of costs when a provider does not say).
    public var currency = "USD"
    /// Price book files or folders, relative to the config file (`nil`: `price-books/` when it exists).
    public var priceBookPaths: [String]?
    /// The price books read, by name.
    public var priceBooks: [String: PriceBook] = [:]
    /// The book of customers without their own.
    public var defaultPriceBook: String?
    /// Customers' own terms.
    public var customers: [String: CustomerPricing] = [:]
    /// What happens to a request for a model no catalog prices (`unpriced_models`).
    public var unpricedModels = UnpricedModels.refuse
    /// What a completed answer that reports no usage is billed (`missing_usage`).
    public var missingUsage = MissingUsageBilling.worstCase
    /// `pricing.billing_cycle`: the billing cycle of customers whose terms and price book name none (`nil`: calendar
    /// months in UTC).
    public var billingCycle: BillingCycle?
}

/// What happens to a request for a model that neither the provider's catalog nor the customer's rate card prices.
public enum UnpricedModels: Sendable, Equatable {
    /// Refused before it reaches the provider (400, the model named): nothing is served at a price of zero.
    case refuse
    /// Served and priced at this rate (each event noted `priced at the fallback rate`).
    case fallback(ModelPrice)
}

/// What a completed, successful answer is billed when its provider reported no usage in it.
public enum MissingUsageBilling: String, Sendable, Equatable {
    /// The admission worst case of the request (what its limits allow), flagged `estimated`: the client cannot pay
    /// less by making usage go missing.
    case worstCase = "worst_case"
    /// An estimate from the request's bytes and the answer's events (``UsageEstimate``), flagged `estimated`.
    case estimate
}

/// Limits and timeouts.
public struct ProxySettings: Sendable, Equatable {
    /// Largest request body accepted (bytes).
    public var maxRequestBodyBytes = 32 * 1024 * 1024
    /// Time to connect to an upstream.
    public var connectTimeoutSeconds = 10.0
    /// Longest an upstream may stay silent before the request fails.
    public var readTimeoutSeconds = 600.0
    /// How long to keep reading an upstream after the client went away, to learn the real usage.
    public var disconnectDrainSeconds = 30.0
    /// How long SIGTERM waits for in-flight requests before the meter is flushed and the process exits.
    public var shutdownGraceSeconds = 30.0
    /// Request body limits of particular routes, first match wins (`max_request_body_bytes_by_route`): an API name
    /// (`openai.transcriptions`) or a path pattern (`/v1/files`), else ``maxRequestBodyBytes``.
    public var routeBodyLimits: [RouteBodyLimit] = []
    /// How long a new connection has to send its first complete request head (slowloris): 10 s.
    public var headerReadTimeoutSeconds = 10.0
    /// How long a connection may stay open with no request in progress (keep-alive, or a request head that does not
    /// complete) before it is closed: 60 s.
    public var idleTimeoutSeconds = 60.0
    /// The most connections open at once on the proxy listener; further ones wait in the accept backlog: 16,384 (at
    /// most the process's file-descriptor limit less 256, which Tollgate raises to its hard limit at start).
    public var maxConnections = 16_384
    /// The most requests one virtual key may have in flight (inferences and pass-throughs); beyond, 429: 128.
    public var maxConcurrentPerKey = 128
    /// The most requests one customer (all its keys) may have in flight; beyond, 429: 256.
    public var maxConcurrentPerCustomer = 256
    /// Per-customer overrides of ``maxConcurrentPerCustomer`` (`customer_concurrency: {acme: 16}`).
    public var customerConcurrency: [String: Int] = [:]
    /// The most bytes of one stream event (an SSE event) the meter buffers: 16 MiB. A larger event reaches the
    /// client untouched and unread, and the answer is metered as estimated, with a note.
    public var maxMeterEventBytes = 16 << 20
    /// The most bytes the meter decodes from one compressed response (a decompression bomb): 256 MiB. Beyond, the
    /// meter stops decoding and the answer is metered as estimated, with a note.
    public var maxMeterDecodedBytes = 256 << 20

    /// The defaults.
    public init() {}

    /// The body limit of a request for `path`, whose API is `api` (`nil`: not an inference).
    public func maxRequestBodyBytes(path: String, api: APIName?) -> Int {
        for rule in routeBodyLimits {
            switch rule.route {
            case .api(let name): if name == api { return rule.bytes }
            case .path(let pattern): if pattern.matches(path) { return rule.bytes }
            }
        }
        return maxRequestBodyBytes
    }

    /// The in-flight limit of `customer`.
    public func concurrencyLimit(customer: String) -> Int { customerConcurrency[customer] ?? maxConcurrentPerCustomer }
}

/// A request body limit for some requests.
public struct RouteBodyLimit: Sendable, Equatable {
    /// Which requests.
    public enum Route: Sendable, Equatable {
        /// Inferences of this API.
        case api(APIName)
        /// Requests whose path (as the client sent it) matches.
        case path(PathPattern)
    }

    /// Which requests.
    public var route: Route
    /// The largest body accepted.
    public var bytes: Int

    /// Creates a limit.
    public init(route: Route, bytes: Int) {
        self.route = route
        self.bytes = bytes
    }
}

/// The admin listener: its own address, behind a bearer token.
public struct AdminSettings: Sendable, Equatable {
    /// Where the admin API listens; `nil` (the default) runs no admin listener.
    public var listen: ListenAddress?
    /// The token every admin request must present (`Authorization: Bearer …`).
    public var token: String?
    /// The environment variable the token is read from (when `token` is not written in the file).
    public var tokenEnv: String?
    /// How long a dashboard login lasts (`session_ttl_s`, seconds; 12 hours by default): then the browser is sent
    /// to the login form again.
    public var sessionTTLSeconds: Double = 12 * 3600
    /// Mark the dashboard cookie `Secure` on every response (`secure_cookies`): for a dashboard only ever reached
    /// over HTTPS (through a TLS-terminating proxy). Off by default; the cookie is `Secure` anyway on a request a
    /// trusted proxy says came over HTTPS.
    public var secureCookies = false
    /// Addresses of reverse proxies in front of the admin listener (`trusted_proxies`): only from these is
    /// `X-Forwarded-Proto: https` believed (the cookie is then `Secure`) and `X-Forwarded-For` taken as the client
    /// address (which login throttling counts by).
    public var trustedProxies: [String] = []

    /// No admin listener.
    public init() {}
}

/// How admission estimates the worst case of a request before it goes out.
public struct CreditSettings: Sendable, Equatable {
    /// Output tokens reserved when neither the request (`max_tokens` …) nor the model's catalog entry gives a limit.
    public var defaultMaxOutputTokens = 4096
    /// Prompt bytes per reserved input token: 1 reserves a token per byte of the request body, an upper bound for
    /// text (no tokenizer makes more tokens than UTF-8 bytes).
    public var promptBytesPerToken = 1
    /// Input tokens reserved for a request that references stored content (a previous response, a cached context,
    /// a file) when the model's catalog entry gives no input limit.
    public var defaultMaxInputTokens = 1_048_576
    /// The name of the credit unit grants may be given in (`credits grant --credits N`), if one is used.
    public var unitName: String?
    /// The value of one credit unit in the pricing currency (`0.01`: 100 credits = 1 USD).
    public var unitValue: Money?

    /// The defaults.
    public init() {}
}

/// Threshold alerts: a webhook (signed, retried with backoff) and the log.
public struct AlertSettings: Sendable, Equatable {
    /// The URL alerts are POSTed to; `nil`: alerts go to the log only.
    public var webhookURL: String?
    /// The HMAC-SHA256 key that signs each delivery (`Tollgate-Signature` header); `nil`: unsigned.
    public var secret: String?
    /// The environment variable the secret is read from.
    public var secretEnv: String?
    /// Thresholds (percent of a limit) that fire when a limit does not list its own.
    public var defaultThresholds = [50, 80, 100]
    /// The longest wait between two delivery attempts (seconds); attempts back off exponentially up to it.
    public var maxBackoffSeconds = 300.0
    /// Attempts before an alert is given up (kept, with its last error, for `tollgate limits alerts`).
    public var maxAttempts = 20
    /// `low_balance`: a prepaid account's alert when what is available falls below this share of what was granted to it
    /// (`"10%"`, the default) or below an amount (`"25.00"`); `nil` (`low_balance: off`): none.
    public var lowBalance: LowBalance? = .percent(10)
    /// `negative_margin`: an alert when a customer's revenue was below its cost over a UTC day (price below cost, as
    /// after a provider's price change).
    public var negativeMargin = true
    /// How often `serve` looks for low balances and negative margins (seconds).
    public var checkIntervalSeconds = 60.0

    /// When a balance counts as low.
    public enum LowBalance: Sendable, Equatable {
        /// A percentage (1–100) of what was granted to the account.
        case percent(Int)
        /// An amount in the credits' currency.
        case amount(Money)
    }

    /// The defaults.
    public init() {}
}

/// Idempotent retries: a request that repeats an earlier one's `Idempotency-Key` (same customer, same body) gets the
/// earlier response replayed instead of a second inference and a second charge.
public struct IdempotencySettings: Sendable, Equatable {
    /// How long a completed response stays replayable (and its key bound to its body), in seconds: 24 h, as Stripe.
    public var windowSeconds = 86_400.0
    /// The largest response kept for replay (bytes as the client received them); a larger one completes normally, and
    /// a retry of it is answered 422 (it cannot be replayed, and running it again would charge twice).
    public var maxResponseBytes = 4 * 1024 * 1024
    /// How long a retry waits while the first request with its key is still running, before it is answered 409.
    public var inFlightWaitSeconds = 30.0

    /// The defaults.
    public init() {}
}
