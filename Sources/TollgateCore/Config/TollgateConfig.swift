/// Everything Tollgate runs on, resolved and validated: the model behind `tollgate serve` and `tollgate check`.
///
/// Built by ``ConfigLoader`` from a YAML file (or the embedded defaults) plus the provider definitions; every
/// field has a documented default (README.md, "Configuration").
public struct TollgateConfig: Sendable {
    /// Where the proxy listens.
    public var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8787)
    /// The meter database.
    public var meter = MeterSettings()
    /// Upstreams by name.
    public var providers: [String: Provider] = [:]
    /// The provider that `/v1/...` paths go to.
    public var defaultProvider = "openai"
    /// Model names that route `/v1/...` requests to another provider (and optionally another model name).
    public var modelAliases: [String: ModelAlias] = [:]
    /// Customer prices: price books, the default one, customers' terms, the markup for customers without a book.
    public var pricing = PricingSettings()
    /// Limits and timeouts of the proxy.
    public var proxy = ProxySettings()
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel = "info"

    /// The defaults, with no providers.
    public init() {}

    /// Everything that prices events, as one value.
    public var pricingRules: PricingRules {
        PricingRules(
            catalogs: providers.mapValues(\.prices), priceBooks: pricing.priceBooks, defaultPriceBook: pricing.defaultPriceBook,
            markup: pricing.markup, currency: pricing.currency, customers: pricing.customers)
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
    /// Events are committed within the given number of milliseconds; a crash can lose that window.
    case relaxed(maxDelayMilliseconds: Int)
}

/// The meter database.
public struct MeterSettings: Sendable, Equatable {
    /// SQLite file.
    public var path = "tollgate.db"
    /// Commit promise.
    public var durability = Durability.strict
    /// Most events written in one transaction.
    public var maxBatch = 512
    /// fsync every commit (SQLite `synchronous=FULL`): events survive power loss and OS crashes, at the cost of one
    /// fsync per batch. Off (`NORMAL`, the default), a commit survives any crash of the Tollgate process.
    public var fsync = false
}

/// A model name that routes elsewhere.
public struct ModelAlias: Sendable, Equatable {
    /// Provider to send to.
    public var provider: String
    /// Model name to send instead, if different.
    public var model: String?
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
}
