import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// Credits, caps and rate limits at the meter: reservations taken in one write transaction hold under any
/// concurrency, settlement spends the event's price in the event's own transaction, grants are spent in the
/// documented order, and a crashed process's holds are released at the next start.
@Suite("Admission and credits")
struct AdmissionTests {
    private func usd(_ text: String) -> Money { Money(text)! }

    /// A key for `customer` and its principal as the proxy sees it.
    private func principal(_ meter: MeterStore, customer: String = "acme") async throws -> Principal {
        let (_, secret) = try await meter.createKey(customer: customer)
        return try #require(try meter.principal(secret: secret))
    }

    private func request(_ principal: Principal, worst: String, tokens: Int = 100, nowMs: Int64 = Timestamps.nowMs()) -> AdmissionRequest {
        AdmissionRequest(
            principal: principal, model: "gpt-4o-mini", worstCasePrice: usd(worst), currency: "USD", worstCaseTokens: tokens, nowMs: nowMs)
    }

    private func event(_ id: String, _ principal: Principal, price: String, tokens: Int = 50, nowMs: Int64 = Timestamps.nowMs()) -> UsageEvent {
        var event = makeEvent(id: id, timestampMs: nowMs, customer: principal.customer)
        event.keyID = principal.key.id
        event.price = usd(price)
        event.usage = TokenUsage(inputTokens: tokens - 10, outputTokens: 10)
        return event
    }

    @Test("a customer without credits or limits is not controlled; a grant makes it prepaid")
    func controlled() async throws {
        try await withTemporaryMeter { meter in
            #expect(try await principal(meter).controlled == false)
            _ = try await meter.grantCredits(account: "customer:acme", amount: usd("5"), currency: "USD")
            #expect(try await principal(meter).controlled == true)
            #expect(try await principal(meter, customer: "globex").controlled == false)
        }
    }

    @Test(
        "500 concurrent admissions never hold more than the balance; settlement spends exactly the events' prices",
        arguments: [false, true])
    func concurrentAdmissions(alone: Bool) async throws {
        try await withTemporaryMeter { meter in
            let control = AdmissionControl(meter: meter)
            try await control.start()
            _ = try await meter.grantCredits(account: "customer:acme", amount: usd("5"), currency: "USD")
            let who = try await principal(meter)
            let results = await withTaskGroup(of: Result<AdmissionTicket, Refusal>?.self) { group in
                // Alone, they race for the idle meter on their own threads; the others wait for the admission thread.
                for _ in 0..<500 { group.addTask { try? await control.admit(request(who, worst: "0.1"), alone: alone) } }
                var all: [Result<AdmissionTicket, Refusal>?] = []
                for await result in group { all.append(result) }
                return all
            }
            let tickets = results.compactMap { result -> AdmissionTicket? in
                if case .success(let ticket)? = result { return ticket } else { return nil }
            }
            let refusals = results.compactMap { result -> Refusal? in if case .failure(let refusal)? = result { return refusal } else { return nil } }
            #expect(tickets.count == 50, "5 USD holds exactly fifty 0.1 worst cases")
            #expect(refusals.count == 450)
            #expect(refusals.allSatisfy { $0.reason == .credits && $0.message.contains("customer:acme") })
            var balance = try await meter.balance(account: "customer:acme", currency: "USD")
            #expect(balance.reserved == usd("5"))
            #expect(balance.available == .zero)
            // Each settles at less than its worst case; the rest goes back to the balance.
            let events = tickets.enumerated().map { (event("evt_c\($0.offset)", who, price: "0.07"), $0.element.reservationID as String?) }
            _ = try await meter.insert(events)
            balance = try await meter.balance(account: "customer:acme", currency: "USD")
            #expect(balance.spent == usd("3.5"))
            #expect(balance.reserved == .zero)
            #expect(balance.available == usd("1.5"))
            #expect(balance.granted - balance.spent - balance.expired - balance.reserved == balance.available)
            // The ledger explains it line by line.
            let ledger = try await meter.ledger(account: "customer:acme")
            let sum = { (kind: LedgerEntry.Kind) in ledger.filter { $0.kind == kind }.reduce(Money.zero) { $0 + $1.amount } }
            #expect(sum(.grant) - sum(.spend) == balance.available)
            #expect(sum(.reserve) == sum(.release))
            #expect(ledger.filter { $0.kind == .reserve }.count == 50)
        }
    }

    @Test("one request at a time holds less than its worst case: a release does not let a second one in beside it")
    func onePartialHoldAtATime() async throws {
        try await withTemporaryMeter { meter in
            let control = AdmissionControl(meter: meter)
            _ = try await meter.grantCredits(account: "customer:acme", amount: usd("1"), currency: "USD")
            let who = try await principal(meter)
            guard case .success(let full) = try await control.admit(request(who, worst: "0.6")),
                case .success(let partial) = try await control.admit(request(who, worst: "0.6"))
            else { Issue.record("refused"); return }
            // The full one settles at 0.3: 0.3 comes back, but the partial one (holding 0.4 of 0.6) is still in flight.
            _ = try await meter.insert([(event("evt_full", who, price: "0.3"), full.reservationID as String?)])
            #expect(try await meter.balance(account: "customer:acme", currency: "USD").available == usd("0.3"))
            let refused = try await control.admit(request(who, worst: "0.6")).refusal
            #expect(refused?.reason == .credits && refused?.message.contains("held by a request in flight") == true)
            #expect(try await control.admit(request(who, worst: "0.2")).refusal == nil, "a request the balance covers whole still goes")
            // Once the partial one settles, the next may take what is left.
            _ = try await meter.insert([(event("evt_partial", who, price: "0.4"), partial.reservationID as String?)])
            #expect(try await control.admit(request(who, worst: "0.6")).refusal == nil)
        }
    }

    @Test("a settled event written twice spends once")
    func idempotentSettlement() async throws {
        try await withTemporaryMeter { meter in
            let control = AdmissionControl(meter: meter)
            _ = try await meter.grantCredits(account: "customer:acme", amount: usd("1"), currency: "USD")
            let who = try await principal(meter)
            guard case .success(let ticket) = try await control.admit(request(who, worst: "0.5")) else { Issue.record("refused"); return }
            let settled = event("evt_once", who, price: "0.2")
            _ = try await meter.insert([(settled, ticket.reservationID)])
            _ = try await meter.insert([(settled, ticket.reservationID)])
            let balance = try await meter.balance(account: "customer:acme", currency: "USD")
            #expect(balance.spent == usd("0.2"))
            #expect(balance.available == usd("0.8"))
        }
    }

    @Test("grants are spent by priority, then soonest expiry, then oldest; what none covers is overdraft")
    func spendingOrder() async throws {
        try await withTemporaryMeter { meter in
            let now = Timestamps.nowMs()
            let day: Int64 = 86_400_000
            let late = try await meter.grantCredits(
                account: "customer:acme", amount: usd("1"), currency: "USD", priority: 5, expiresMs: now + 30 * day)
            let never = try await meter.grantCredits(account: "customer:acme", amount: usd("1"), currency: "USD", priority: 5)
            let soon = try await meter.grantCredits(
                account: "customer:acme", amount: usd("1"), currency: "USD", priority: 5, expiresMs: now + 2 * day)
            let first = try await meter.grantCredits(account: "customer:acme", amount: usd("1"), currency: "USD", priority: 1)
            let future = try await meter.grantCredits(
                account: "customer:acme", amount: usd("9"), currency: "USD", priority: 0, effectiveMs: now + day)
            let control = AdmissionControl(meter: meter)
            let who = try await principal(meter)
            guard case .success(let ticket) = try await control.admit(request(who, worst: "4")) else { Issue.record("refused"); return }
            _ = try await meter.insert([(event("evt_big", who, price: "4.5"), ticket.reservationID)])
            let spends = try await meter.ledger(account: "customer:acme").filter { $0.kind == .spend }
            #expect(spends.map(\.grantID) == [first.id, soon.id, late.id, never.id, nil])
            #expect(spends.map(\.amount) == [usd("1"), usd("1"), usd("1"), usd("1"), usd("0.5")])
            let balance = try await meter.balance(account: "customer:acme", currency: "USD")
            #expect(balance.overdraft == usd("0.5"))
            #expect(balance.available == usd("-0.5"))
            #expect(balance.upcoming == usd("9"))
            #expect(!spends.contains { $0.grantID == future.id })
            #expect(try await control.admit(request(who, worst: "0.01")).refusal?.reason == .credits)
        }
    }

    @Test("an expired grant's remainder leaves the balance as an expire line")
    func expiry() async throws {
        try await withTemporaryMeter { meter in
            let now = Timestamps.nowMs()
            _ = try await meter.grantCredits(account: "team:t1", amount: usd("2"), currency: "USD", effectiveMs: now - 10_000, expiresMs: now - 1)
            _ = try await meter.grantCredits(account: "team:t1", amount: usd("3"), currency: "USD")
            let balance = try await meter.balance(account: "team:t1", currency: "USD")
            #expect(balance.granted == usd("5"))
            #expect(balance.expired == usd("2"))
            #expect(balance.available == usd("3"))
            #expect(try await meter.ledger(account: "team:t1").map(\.kind) == [.grant, .grant, .expire])
        }
    }

    @Test("voiding an unknown grant is not found, voiding one twice conflicts; the messages name the grant")
    func voidRefusals() async throws {
        try await withTemporaryMeter { meter in
            let grant = try await meter.grantCredits(account: "customer:acme", amount: usd("1"), currency: "USD")
            try await meter.voidGrant(id: grant.id)
            let twice = await #expect(throws: MeterError.self) { try await meter.voidGrant(id: grant.id) }
            let unknown = await #expect(throws: MeterError.self) { try await meter.voidGrant(id: "grant_nope") }
            if case .conflict = twice {} else { Issue.record("voiding twice: \(String(describing: twice))") }
            if case .notFound(what: "grant", id: "grant_nope", detail: nil) = unknown {
            } else {
                Issue.record("an unknown grant: \(String(describing: unknown))")
            }
            #expect(twice?.description == "grant \(grant.id) is already closed")
            #expect(unknown?.description == "no grant with id grant_nope")
        }
    }

    @Test("team members draw from the team's pool; a member cannot hold its own grants")
    func teamPool() async throws {
        try await withTemporaryMeter { meter in
            try await meter.setCustomer(id: "a", team: "t1")
            try await meter.setCustomer(id: "b", team: "t1")
            _ = try await meter.grantCredits(account: "team:t1", amount: usd("1"), currency: "USD")
            await #expect(throws: MeterError.self) { try await meter.grantCredits(account: "customer:a", amount: usd("1"), currency: "USD") }
            let control = AdmissionControl(meter: meter)
            let a = try await principal(meter, customer: "a")
            let b = try await principal(meter, customer: "b")
            #expect(a.creditAccount == "team:t1")
            #expect(try await control.admit(request(a, worst: "0.6")).refusal == nil)
            #expect(try await control.admit(request(b, worst: "0.6")).refusal == nil, "the last request holds what is left")
            #expect(try await meter.balance(account: "team:t1", currency: "USD").reserved == usd("1"))
            #expect(try await control.admit(request(a, worst: "0.01")).refusal?.reason == .credits, "the pool is fully held")
        }
    }

    @Test("a hard cap refuses with its size, use and reset; thresholds fire once per period")
    func capsAndThresholds() async throws {
        try await withTemporaryMeter { meter in
            let limit = try await meter.addLimit(
                scope: .customer, scopeID: "acme", metric: .money, period: .month, amount: "1", thresholds: [50, 80, 100])
            let control = AdmissionControl(meter: meter)
            let who = try await principal(meter)
            #expect(who.controlled)
            var fired: [Int] = []
            for index in 0..<5 {
                guard case .success(let ticket) = try await control.admit(request(who, worst: "0.2")) else {
                    Issue.record("refused \(index)"); return
                }
                fired += try await meter.insert([(event("evt_cap\(index)", who, price: "0.2"), ticket.reservationID)]).map(\.threshold)
            }
            #expect(fired == [50, 80, 100])
            let refusal = try #require(try await control.admit(request(who, worst: "0.01")).refusal)
            #expect(refusal.reason == .cap)
            #expect(refusal.limitID == limit.id)
            #expect(
                refusal.message.contains("monthly cap of 1 USD") && refusal.message.contains("used 1 USD") && refusal.message.contains("resets at"))
            #expect(try await meter.alerts().count == 3)
            let status = try await meter.limitStatus(limit)
            #expect(status.used == "1" && status.reserved == "0" && status.remaining == "0")
        }
    }

    @Test("a soft limit never refuses; it only alerts")
    func softLimit() async throws {
        try await withTemporaryMeter { meter in
            _ = try await meter.addLimit(
                scope: .customer, scopeID: "acme", metric: .tokens, period: .day, amount: "100", enforcement: .soft, thresholds: [100])
            let control = AdmissionControl(meter: meter)
            let who = try await principal(meter)
            for index in 0..<3 {
                guard case .success(let ticket) = try await control.admit(request(who, worst: "0", tokens: 1000)) else {
                    Issue.record("refused"); return
                }
                let fired = try await meter.insert([(event("evt_soft\(index)", who, price: "0", tokens: 60), ticket.reservationID)])
                #expect(fired.count == (index == 1 ? 1 : 0))
            }
        }
    }

    @Test("N requests per minute pass, the next is refused with a retry-after")
    func requestRate() async throws {
        try await withTemporaryMeter { meter in
            let who = try await principal(meter)
            _ = try await meter.addLimit(scope: .key, scopeID: who.key.id, metric: .requests, period: .minute, amount: "5")
            let control = AdmissionControl(meter: meter)
            let now = Timestamps.nowMs()
            for _ in 0..<5 { #expect(try await control.admit(request(who, worst: "0", nowMs: now)).refusal == nil) }
            let refusal = try #require(try await control.admit(request(who, worst: "0", nowMs: now)).refusal)
            #expect(refusal.reason == .rateLimit)
            #expect(refusal.retryAfterSeconds == 12)
            #expect(try await control.admit(request(who, worst: "0", nowMs: now + 12_000)).refusal == nil)
        }
    }

    @Test("replicas on PostgreSQL share one per-minute budget (requests and tokens); on SQLite each process has its own")
    func sharedRateLimits() async throws {
        try await withTemporaryMeter { meter in
            let who = try await principal(meter)
            _ = try await meter.addLimit(scope: .key, scopeID: who.key.id, metric: .requests, period: .minute, amount: "6")
            let replicas = [AdmissionControl(meter: meter), AdmissionControl(meter: meter), AdmissionControl(meter: meter)]
            let now = Timestamps.nowMs()
            var admitted = 0
            for round in 0..<6 {
                for replica in replicas where try await replica.admit(request(who, worst: "0", nowMs: now + Int64(round))).refusal == nil {
                    admitted += 1
                }
            }
            #expect(admitted == (meter.dialect == .postgres ? 6 : 18))

            let other = try await principal(meter, customer: "globex")
            _ = try await meter.addLimit(scope: .key, scopeID: other.key.id, metric: .tokens, period: .minute, amount: "1000")
            let ticket = try await replicas[0].admit(request(other, worst: "0", nowMs: now)).get()
            try await replicas[0].chargeTokens(ticket, tokens: 5_000, nowMs: now)
            let second = try await replicas[1].admit(request(other, worst: "0", nowMs: now + 1))
            #expect((second.refusal?.reason == .rateLimit) == (meter.dialect == .postgres), "the debt is seen by the other replica")
        }
    }

    @Test("the reservations of a process that died are released when the next one starts")
    func orphanRelease() async throws {
        try await withTemporaryMeter { meter in
            _ = try await meter.grantCredits(account: "customer:acme", amount: usd("1"), currency: "USD")
            let who = try await principal(meter)
            let crashed = AdmissionControl(meter: meter)
            try await crashed.start()
            #expect(try await crashed.admit(request(who, worst: "0.7")).refusal == nil)
            #expect(try await meter.balance(account: "customer:acme", currency: "USD").reserved == usd("0.7"))
            // The same pid under a new instance id is what a restarted process looks like.
            let restarted = AdmissionControl(meter: meter)
            #expect(try await restarted.start() == 1)
            let balance = try await meter.balance(account: "customer:acme", currency: "USD")
            #expect(balance.reserved == .zero)
            #expect(balance.available == usd("1"))
            #expect(try await meter.ledger(account: "customer:acme").last?.note?.contains("released at restart") == true)
        }
    }
}

extension Result where Failure == Refusal {
    /// The refusal, if refused.
    var refusal: Refusal? {
        if case .failure(let refusal) = self { return refusal }
        return nil
    }
}
