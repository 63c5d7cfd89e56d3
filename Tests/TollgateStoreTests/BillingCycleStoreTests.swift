import Foundation
import Testing
import TollgateCore

@testable import TollgateStore

/// Customers' billing cycles in the meter: which cycle applies, a statement over a cycle's period across a
/// daylight-saving change, and a margin report grouped by local days.
@Suite struct BillingCycleStoreTests {
    static let newYork15th = try! BillingCycle(cadence: "month", anchor: "15", timeZone: "America/New_York")

    @Test func theCustomersOwnCycleComesFirstThenItsTermsItsBookAndTheDefault() async throws {
        let weekly = try BillingCycle(cadence: "week", anchor: "monday", timeZone: "Europe/Paris")
        let yearly = try BillingCycle(cadence: "year", anchor: "04-01")
        let book = PriceBook(name: "annual", currency: "USD", versions: [PriceBook.Version(markup: .one)], billingCycle: yearly)
        var terms = CustomerPricing(priceBook: "annual")
        terms.billingCycle = weekly
        let rules = PricingRules(
            priceBooks: ["annual": book], customers: ["termed": terms, "booked": CustomerPricing(priceBook: "annual")],
            billingCycle: Self.newYork15th)
        try await withTemporaryMeter { meter in
            try await meter.setCustomer(id: "termed")
            #expect(try await meter.billingCycle(customer: "termed", rules: rules) == (weekly, .customerTerms))
            #expect(try await meter.billingCycle(customer: "booked", rules: rules) == (yearly, .priceBook("annual")))
            #expect(try await meter.billingCycle(customer: "anyone", rules: rules) == (Self.newYork15th, .default))
            #expect(try await meter.billingCycle(customer: "anyone", rules: PricingRules()) == (.calendarMonthUTC, .default))

            let own = try BillingCycle(cadence: "month", anchor: "31", time: "09:00", timeZone: "Asia/Kolkata")
            let record = try await meter.setCustomer(id: "termed", billingCycle: own)
            #expect(record.billingCycle == own)
            #expect(try await meter.billingCycle(customer: "termed", rules: rules) == (own, .customer))
            // Leaving the cycle out changes nothing; `.some(nil)` removes it and the terms apply again.
            #expect(try await meter.setCustomer(id: "termed", name: "Termed").billingCycle == own)
            #expect(try await meter.setCustomer(id: "termed", billingCycle: .some(nil)).billingCycle == nil)
            #expect(try await meter.billingCycle(customer: "termed", rules: rules) == (weekly, .customerTerms))
        }
    }

    /// The check: a customer anchored on the 15th in New York; its statement for the period across the end of
    /// daylight-saving time covers 15th 00:00 to 15th 00:00 New York time, and its total is the sum of its events in
    /// that window, the events just outside it left out.
    @Test func aStatementOverACyclePeriodAcrossDaylightSavingTimeHoldsExactlyItsEvents() async throws {
        let rules = PricingRules(customers: ["nyc": CustomerPricing()])
        try await withTemporaryMeter { meter in
            try await meter.setCustomer(id: "nyc", billingCycle: Self.newYork15th)
            let cycle = try await meter.billingCycle(customer: "nyc", rules: rules).cycle
            let period = try cycle.period(named: "2026-10", nowMs: 0)
            #expect(Timestamps.iso8601(period.startMs) == "2026-10-15T04:00:00Z")
            #expect(Timestamps.iso8601(period.endMs) == "2026-11-15T05:00:00Z")
            func event(_ id: String, _ time: String, price: String) -> UsageEvent {
                var event = makeEvent(id: id, timestampMs: Timestamps.parse(time)!, customer: "nyc")
                event.price = Money(price)!
                event.cost = Money(price)!
                return event
            }
            try await meter.insert([
                event("evt_before", "2026-10-15T03:59:59.999Z", price: "100"),  // 14th 23:59:59.999 EDT
                event("evt_first", "2026-10-15T04:00:00Z", price: "1.25"),  // 15th 00:00 EDT
                event("evt_fall_back", "2026-11-01T05:30:00Z", price: "2.50"),  // 01:30 EDT, just before the clocks go back
                event("evt_last", "2026-11-15T04:59:59.999Z", price: "0.75"),  // 14th 23:59:59.999 EST
                event("evt_after", "2026-11-15T05:00:00Z", price: "100"),  // 15th 00:00 EST
            ])
            let statement = try await meter.customerStatement(
                customer: "nyc", startMs: period.startMs, endMs: period.endMs, rules: rules, nowMs: period.endMs)
            #expect(statement.events.map(\.id) == ["evt_first", "evt_fall_back", "evt_last"])
            #expect(statement.total == Money("4.50")!)
        }
    }

    /// A plan change mid-period: the statement's charge line of each plan lists that plan's events only.
    @Test func aStatementAcrossAPlanChangePairsEachPlansChargeWithItsEvents() async throws {
        let book = { (name: String, fee: String) in
            try PriceBookFile.parse(
                yaml: "name: \(name)\ncurrency: USD\nbase_fee: \"\(fee)\"\ncharges:\n  - {name: Calls, meter: requests, unit_price: \"0.01\"}\n",
                file: "\(name).yaml", name: name)
        }
        let change = Timestamps.parse("2026-11-16")!
        var terms = CustomerPricing(priceBook: "small")
        terms.planChanges = [CustomerPricing.PlanChange(priceBook: "large", fromMs: change)]
        let rules = PricingRules(priceBooks: ["small": try book("small", "30"), "large": try book("large", "60")], customers: ["acme": terms])
        try await withTemporaryMeter { meter in
            let times = [-3, -2, -1, 1, 2].map { change + Int64($0) * 3_600_000 }
            try await meter.insert(
                times.enumerated().map { index, time in
                    var event = makeEvent(id: "evt_\(index)", timestampMs: time)
                    let priced = rules.price(
                        customer: "acme", usage: event.usage, cost: event.cost, models: ["gpt-4o-mini"], serviceTier: nil, at: time, billable: true)
                    (event.price, event.priceBook) = (priced.price, priced.label)
                    return event
                })
            let statement = try await meter.customerStatement(
                customer: "acme", startMs: Timestamps.parse("2026-11-01")!, endMs: Timestamps.parse("2026-12-01")!, rules: rules)
            let charges = statement.lines.filter { $0.rated.kind == .charge }
            #expect(charges.map(\.rated.description) == ["Calls — small", "Calls — large"])
            #expect(charges.map { $0.items.map { statement.event($0).id } } == [["evt_0", "evt_1", "evt_2"], ["evt_3", "evt_4"]])
            // 30 × 15/30 + 60 × 15/30 in fees, five calls at 0.01.
            #expect(statement.total == Money("45.05")!)
        }
    }

    /// Days in a zone with whole-hour offsets are read from the hourly rollup; the same report over the events (a
    /// half-hour zone) is exact too. Both equal the sums computed here from the events.
    @Test func aReportByDayInATimeZoneGroupsByLocalDays() async throws {
        try await withTemporaryMeter { meter in
            // 23:30 UTC on the 1st is the 2nd in Paris (UTC+1) and in Kolkata (UTC+5:30); 18:00 UTC stays the 1st in both
            // (19:00 in Paris, 23:30 in Kolkata).
            let times = ["2026-12-01T18:00:00Z", "2026-12-01T23:30:00Z", "2026-12-02T10:00:00Z"]
            try await meter.insert(times.enumerated().map { makeEvent(id: "evt_\($0.offset)", timestampMs: Timestamps.parse($0.element)!) })
            _ = try await meter.rebuildRollups()
            for (zone, expected) in [("Europe/Paris", ["2026-12-01": 1, "2026-12-02": 2]), ("Asia/Kolkata", ["2026-12-01": 1, "2026-12-02": 2])] {
                var query = MarginQuery(fromMs: Timestamps.parse("2026-11-01")!, toMs: Timestamps.parse("2027-01-01")!, by: [.day])
                query.calendar = try BillingCycle(cadence: "month", timeZone: zone)
                let report = try await meter.marginReport(query)
                let byDay = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.group[.day]!, $0.totals.requests) })
                #expect(byDay == expected, "\(zone)")
                #expect(report.rollupRowsRead > 0 || zone == "Asia/Kolkata", "\(zone): whole-hour offsets read the hourly rollup")
            }
            let plan = ReportSegment.plan(
                fromMs: 0, toMs: Timestamps.parse("2027-01-01")!, dimensions: [.day],
                calendar: try BillingCycle(cadence: "month", timeZone: "Asia/Kolkata"))
            #expect(plan.allSatisfy { $0.source == .events })
        }
    }
}
