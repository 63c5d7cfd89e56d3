import Testing

@testable import TollgateCore

/// The per-minute rate limit: bursts up to capacity, continuous refill, retry times, and debt from charges.
@Suite struct TokenBucketTests {
    static let start: Int64 = 1_800_000_000_000

    @Test func burstOfCapacityPassesAndTheNextWaitsForOneUnit() {
        var bucket = TokenBucket(capacity: 10, nowMs: Self.start)
        for _ in 0..<10 { #expect(bucket.take(1, nowMs: Self.start) == .allowed) }
        #expect(bucket.take(1, nowMs: Self.start) == .refused(retryAfterMs: 6_000))
        #expect(bucket.available(nowMs: Self.start) == 0)
    }

    @Test func retryAfterIsRoundedUpToTheMillisecond() {
        var bucket = TokenBucket(capacity: 7, nowMs: Self.start)
        for _ in 0..<7 { #expect(bucket.take(1, nowMs: Self.start) == .allowed) }
        // 60 000 / 7 = 8 571.43 ms.
        #expect(bucket.take(1, nowMs: Self.start) == .refused(retryAfterMs: 8_572))
        #expect(bucket.take(1, nowMs: Self.start + 8_571) == .refused(retryAfterMs: 1))
        #expect(bucket.take(1, nowMs: Self.start + 8_572) == .allowed)
    }

    @Test func refillIsContinuousAndStopsAtCapacity() {
        var bucket = TokenBucket(capacity: 60, nowMs: Self.start)
        #expect(bucket.take(60, nowMs: Self.start) == .allowed)
        #expect(bucket.take(1, nowMs: Self.start + 999) == .refused(retryAfterMs: 1))
        #expect(bucket.take(1, nowMs: Self.start + 1_000) == .allowed)
        #expect(bucket.available(nowMs: Self.start + 30_000) == 29)
        // A long idle time fills the bucket, no more.
        #expect(bucket.available(nowMs: Self.start + 3_600_000_000) == 60)
        #expect(bucket.take(61, nowMs: Self.start + 3_600_000_000) != .allowed)
        #expect(bucket.take(60, nowMs: Self.start + 3_600_000_000) == .allowed)
    }

    @Test func refusalTakesNothing() {
        var bucket = TokenBucket(capacity: 10, nowMs: Self.start)
        #expect(bucket.take(8, nowMs: Self.start) == .allowed)
        #expect(bucket.take(5, nowMs: Self.start) == .refused(retryAfterMs: 18_000))
        #expect(bucket.take(2, nowMs: Self.start) == .allowed)
    }

    @Test func amountAboveCapacityWaitsForAFullBucket() {
        var bucket = TokenBucket(capacity: 10, nowMs: Self.start)
        #expect(bucket.take(11, nowMs: Self.start) == .refused(retryAfterMs: 0))
        #expect(bucket.take(4, nowMs: Self.start) == .allowed)
        #expect(bucket.take(11, nowMs: Self.start) == .refused(retryAfterMs: 24_000))
    }

    @Test func chargeLeavesADebtThatLaterTakesWaitFor() {
        var bucket = TokenBucket(capacity: 1_000, nowMs: Self.start)
        #expect(bucket.take(100, nowMs: Self.start) == .allowed)
        // The response used 3 000 tokens: 2 000 more than the bucket held.
        bucket.charge(2_900, nowMs: Self.start)
        #expect(bucket.available(nowMs: Self.start) == -2_000)
        // 2 000 of debt plus the 1 token asked for, at 1 000 per minute.
        #expect(bucket.take(1, nowMs: Self.start) == .refused(retryAfterMs: 120_060))
        #expect(bucket.take(1, nowMs: Self.start + 120_059) == .refused(retryAfterMs: 1))
        #expect(bucket.take(1, nowMs: Self.start + 120_060) == .allowed)
        #expect(bucket.available(nowMs: Self.start + 120_060) == 0)
    }

    @Test func clockSteppingBackRefillsNothing() {
        var bucket = TokenBucket(capacity: 2, nowMs: Self.start)
        #expect(bucket.take(2, nowMs: Self.start) == .allowed)
        #expect(bucket.take(1, nowMs: Self.start - 60_000) == .refused(retryAfterMs: 30_000))
        #expect(bucket.take(1, nowMs: Self.start + 30_000) == .allowed)
    }

    @Test func zeroCapacityRefusesEverything() {
        var bucket = TokenBucket(capacity: 0, nowMs: Self.start)
        #expect(bucket.take(1, nowMs: Self.start + 3_600_000) == .refused(retryAfterMs: 60_000))
        #expect(bucket.take(0, nowMs: Self.start) == .allowed)
    }

    @Test func retryAfterSecondsRoundsUpToAtLeastOne() {
        #expect(TokenBucket.retryAfterSeconds(0) == 1)
        #expect(TokenBucket.retryAfterSeconds(1) == 1)
        #expect(TokenBucket.retryAfterSeconds(1_000) == 1)
        #expect(TokenBucket.retryAfterSeconds(1_001) == 2)
        #expect(TokenBucket.retryAfterSeconds(120_060) == 121)
        #expect(TokenBucket.retryAfterSeconds(-5) == 1)
    }
}
