import Logging
import TollgateStore

/// A duty one replica does for the whole fleet on a shared meter (sending export lines, delivering alert webhooks,
/// true-ups, the account watch), held through a lease in the meter: two replicas never send the same line or
/// deliver the same alert at once, and when the holder dies another takes over within `ttl`.
///
/// The services ask ``hold()`` before each pass; the holder renews its lease there, so `ttl` must be longer than a
/// pass and the wait between two (the services take three times their interval, at least a minute).
public struct FleetLease: Sendable {
    let meter: MeterStore
    /// The duty (`export`, `alerts`, `true-ups`, `account-watch`).
    public let name: String
    /// This process (its admission instance id).
    public let holder: String
    let ttlMs: Int64
    let logger: Logger

    public init(meter: MeterStore, name: String, holder: String, ttl: Duration, logger: Logger) {
        self.meter = meter
        self.name = name
        self.holder = holder
        ttlMs = max(1_000, ttl.components.seconds * 1000 + ttl.components.attoseconds / 1_000_000_000_000_000)
        self.logger = logger
    }

    /// The lease for a service that runs a pass every `interval`: three intervals, at least a minute.
    public static func ttl(every interval: Duration) -> Duration {
        max(.seconds(60), interval * 3)
    }

    /// Whether this process does the duty now (taking or renewing the lease). A meter that cannot be reached
    /// gives no one the duty until it answers again.
    public func hold() async -> Bool {
        do {
            return try await meter.holdLease(name, holder: holder, ttlMs: ttlMs)
        } catch {
            logger.warning("cannot renew the lease of a fleet-wide duty", metadata: ["duty": "\(name)", "error": "\(error)"])
            return false
        }
    }

    /// Gives the duty up (at shutdown) so that another replica takes it at once.
    public func release() async {
        try? await meter.releaseLease(name, holder: holder)
    }
}
