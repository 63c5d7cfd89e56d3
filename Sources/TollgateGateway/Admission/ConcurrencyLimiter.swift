import HTTPTypes
import Hummingbird
import Synchronization
import TollgateCore

/// Requests in flight per virtual key and per customer, in this process (`proxy.max_concurrent_per_key`,
/// `proxy.max_concurrent_per_customer`, `proxy.customer_concurrency`): a request over either limit is refused with
/// 429 before it reaches the provider. A request holds its slot until its response has ended, a drain after the
/// client left included (``Slot`` is released when the last holder lets go of it).
public final class ConcurrencyLimiter: Sendable {
    private struct Counts {
        var keys: [String: Int] = [:]
        var customers: [String: Int] = [:]
        var total = 0
    }

    private let counts = Mutex(Counts())
    private let settings: ProxySettings

    /// Creates a limiter with the proxy's limits.
    public init(settings: ProxySettings) { self.settings = settings }

    /// A request's place under the limits; released when it is deinitialised.
    final class Slot: Sendable {
        let limiter: ConcurrencyLimiter
        let key: String
        let customer: String

        init(limiter: ConcurrencyLimiter, key: String, customer: String) {
            self.limiter = limiter
            self.key = key
            self.customer = customer
        }

        deinit { limiter.release(key: key, customer: customer) }
    }

    /// Takes a slot for a request of `key` (of `customer`), or says which limit is full.
    func acquire(key: String, customer: String) throws(ErrorResponse) -> Slot {
        let keyLimit = settings.maxConcurrentPerKey
        let customerLimit = settings.concurrencyLimit(customer: customer)
        let refused: String? = counts.withLock { counts in
            let keyCount = counts.keys[key, default: 0]
            let customerCount = counts.customers[customer, default: 0]
            if keyCount >= keyLimit { return "key \(key) may have \(keyLimit) requests in flight" }
            if customerCount >= customerLimit { return "customer \(customer) may have \(customerLimit) requests in flight" }
            counts.keys[key] = keyCount + 1
            counts.customers[customer] = customerCount + 1
            counts.total += 1
            return nil
        }
        if let refused {
            var error = ErrorResponse(
                status: .tooManyRequests, message: "Concurrency limit reached: \(refused). Retry when one has finished.",
                type: "rate_limit_exceeded", code: "concurrency_limit")
            error.headers[.retryAfter] = "1"
            throw error
        }
        return Slot(limiter: self, key: key, customer: customer)
    }

    fileprivate func release(key: String, customer: String) {
        counts.withLock { counts in
            Self.decrement(&counts.keys, key)
            Self.decrement(&counts.customers, customer)
            counts.total -= 1
        }
    }

    private static func decrement(_ table: inout [String: Int], _ name: String) {
        guard let count = table[name] else { return }
        if count <= 1 { table[name] = nil } else { table[name] = count - 1 }
    }

    /// Whether at most one request, the caller's own, is in flight in this process: no other event or admission can
    /// share a transaction with it, so the meter may write it on the caller's thread (``EventWriter/record(_:alone:)``).
    var isAlone: Bool { counts.withLock { $0.total <= 1 } }

    /// Requests in flight for a key and a customer (for tests and diagnostics).
    func inFlight(key: String, customer: String) -> (key: Int, customer: Int) {
        counts.withLock { ($0.keys[key, default: 0], $0.customers[customer, default: 0]) }
    }
}

extension Response {
    /// The same response, its body holding `slot` until it has been written (or dropped unwritten).
    func holding(_ slot: ConcurrencyLimiter.Slot) -> Response {
        var response = self
        response.body = response.body.holding(slot)
        return response
    }
}

extension ResponseBody {
    /// The same body, holding `slot` until it has been written (or dropped unwritten).
    func holding(_ slot: ConcurrencyLimiter.Slot) -> ResponseBody {
        let body = self
        return ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(writer)
            withExtendedLifetime(slot) {}
        }
    }
}
