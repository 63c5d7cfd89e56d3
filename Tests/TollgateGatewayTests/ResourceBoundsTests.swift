import HTTPTypes
import Testing
import TollgateCore

@testable import TollgateGateway

/// The bounds that keep one client or one response from taking the proxy's memory: decoded bytes for the meter, and
/// requests in flight per key and per customer.
@Suite("Resource bounds")
struct ResourceBoundsTests {
    @Test("a decompression bomb stops decoding at the bound, with an error the event notes")
    func decompressionBomb() throws {
        let body = compressed([UInt8](repeating: 0x20, count: 8 << 20), as: .gzip)
        #expect(body.count < 64 << 10, "a bomb: \(body.count) bytes inflate to 8 MiB")
        let decoder = try ZlibDecoder(format: .gzip)
        decoder.budget = 1 << 20
        var decoded = 0
        var failure: String?
        body.withUnsafeBytes { bytes in
            do {
                try decoder.decode(bytes) { decoded += $0.count }
            } catch {
                failure = "\(error)"
            }
        }
        #expect(decoded <= (1 << 20) + 65536, "decoding stopped near the bound (\(decoded) bytes)")
        #expect(failure?.contains("bound") == true)
    }

    @Test("a key and a customer hold at most their limits; a slot is freed when its holder lets go")
    func concurrency() throws {
        var settings = ProxySettings()
        settings.maxConcurrentPerKey = 2
        settings.maxConcurrentPerCustomer = 3
        settings.customerConcurrency = ["small": 1]
        let limiter = ConcurrencyLimiter(settings: settings)
        var held = [try limiter.acquire(key: "k1", customer: "acme"), try limiter.acquire(key: "k1", customer: "acme")]
        let keyFull = #expect(throws: ErrorResponse.self) { try limiter.acquire(key: "k1", customer: "acme") }
        #expect(keyFull?.status == .tooManyRequests && keyFull?.headers[HTTPField.Name.retryAfter] == "1")
        #expect(keyFull?.code == "concurrency_limit")
        held.append(try limiter.acquire(key: "k2", customer: "acme"))
        let customerFull = #expect(throws: ErrorResponse.self) { try limiter.acquire(key: "k3", customer: "acme") }
        #expect(customerFull?.message.contains("customer acme") == true)
        // Another customer is not affected, and its own override applies.
        let other = try limiter.acquire(key: "k9", customer: "small")
        #expect(throws: ErrorResponse.self) { try limiter.acquire(key: "k10", customer: "small") }
        #expect(limiter.inFlight(key: "k1", customer: "acme") == (2, 3))
        held.removeFirst()
        #expect(limiter.inFlight(key: "k1", customer: "acme") == (1, 2))
        held.append(try limiter.acquire(key: "k1", customer: "acme"))
        held.removeAll()
        #expect(limiter.inFlight(key: "k1", customer: "acme") == (0, 0))
        #expect(limiter.isAlone, "only the slot of customer small is held")
        let second = try limiter.acquire(key: "k1", customer: "acme")
        #expect(!limiter.isAlone)
        withExtendedLifetime(second) {}
        withExtendedLifetime(other) {}
    }
}
