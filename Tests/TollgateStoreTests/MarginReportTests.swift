import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// Margin reports: a small fixture whose sums are written out by hand, the planning of a range into rollup and
/// event segments, and random events and ranges checked against brute-force sums over the events (exact money),
/// through duplicate inserts, a rebuild of the rollups and the upgrade of a meter written before rollups existed.
@Suite("MarginReport")
struct MarginReportTests {
    // MARK: - Hand-computed fixture

    /// Seven events, three customers, two requested models (one event names none: its served model counts), two
    /// features (and none), over two UTC days' edges and several hours; amounts with 15 fractional digits.
    ///
    /// | id | time (UTC)               | customer | key    | feature | model        | status | in     | cache r | cache w | out | reas | cost              | price             |
    /// |----|--------------------------|----------|--------|---------|--------------|--------|--------|---------|---------|-----|------|-------------------|-------------------|
    /// | e1 | 2026-11-20 22:15:00      | acme     | key_a1 | search  | gpt-4o       | 200    | 1000   | 200     | 0       | 300 | 0    | 0.000123456789012 | 0.000160493825716 |
    /// | e2 | 2026-11-20 23:59:59.999  | acme     | key_a1 | chat    | gpt-4o-mini  | 200    | 50     | 0       | 0       | 20  | 0    | 0.000000000000001 | 0.000000000000002 |
    /// | e3 | 2026-11-21 00:00:00      | acme     | key_a2 | —       | gpt-4o       | 200    | 400    | 0       | 0       | 100 | 40   | 0.01              | 0.013             |
    /// | e4 | 2026-11-21 00:30:00.500  | globex   | key_g  | search  | gpt-4o-mini  | 200    | 7      | 0       | 0       | 3   | 0    | 1.000000000000001 | 0.5               |
    /// | e5 | 2026-11-21 01:00:00      | globex   | key_g  | chat    | gpt-4o       | 502    | 0      | 0       | 0       | 0   | 0    | 0                 | 0                 |
    /// | e6 | 2026-11-21 10:45:00      | initech  | key_i  | —       | (served) gpt-4o-mini-2024-07-18 | 402 | 0 | 0 | 0  | 0   | 0    | 0                 | 0                 |
    /// | e7 | 2026-11-22 00:00:00      | initech  | key_i  | search  | gpt-4o       | 200    | 123456 | 654321  | 1000    | 999 | 500  | 0.17531           | 0.2               |
    static let fixture: [UsageEvent] = [
        reportEvent(
            "e1", at: "2026-11-20T22:15:00Z", customer: "acme", key: "key_a1", feature: "search", model: "gpt-4o",
            tokens: (1000, 200, 0, 300, 0), cost: "0.000123456789012", price: "0.000160493825716"),
        reportEvent(
            "e2", at: "2026-11-20T23:59:59.999Z", customer: "acme", key: "key_a1", feature: "chat", model: "gpt-4o-mini",
            tokens: (50, 0, 0, 20, 0), cost: "0.000000000000001", price: "0.000000000000002"),
        reportEvent(
            "e3", at: "2026-11-21T00:00:00Z", customer: "acme", key: "key_a2", feature: nil, model: "gpt-4o", stream: true,
            tokens: (400, 0, 0, 100, 40), cost: "0.01", price: "0.013"),
        reportEvent(
            "e4", at: "2026-11-21T00:30:00.500Z", customer: "globex", key: "key_g", feature: "search", model: "gpt-4o-mini",
            tokens: (7, 0, 0, 3, 0), cost: "1.000000000000001", price: "0.5"),
        reportEvent(
            "e5", at: "2026-11-21T01:00:00Z", customer: "globex", key: "key_g", feature: "chat", model: "gpt-4o", status: 502,
            tokens: (0, 0, 0, 0, 0), cost: "0", price: "0"),
        reportEvent(
            "e6", at: "2026-11-21T10:45:00Z", customer: "initech", key: "key_i", feature: nil, model: nil,
            servedModel: "gpt-4o-mini-2024-07-18", status: 402, tokens: (0, 0, 0, 0, 0), cost: "0", price: "0"),
        reportEvent(
            "e7", at: "2026-11-22T00:00:00Z", customer: "initech", key: "key_i", feature: "search", model: "gpt-4o",
            tokens: (123_456, 654_321, 1000, 999, 500), cost: "0.17531", price: "0.2"),
    ]

    @Test("the fixture's times are the instants the table says")
    func fixtureTimes() {
        #expect(
            Self.fixture.map(\.timestampMs) == [
                1_795_212_900_000, 1_795_219_199_999, 1_795_219_200_000, 1_795_221_000_500, 1_795_222_800_000, 1_795_257_900_000,
                1_795_305_600_000,
            ])
    }

    @Test("by customer: each customer's sums and the total, to the last digit")
    func byCustomer() async throws {
        try await withFixture { meter in
            let report = try await meter.marginReport(MarginQuery(by: [.customer]))
            #expect(report.rows.map { $0.group[.customer] } == ["acme", "globex", "initech"])
            #expect(report.rows.allSatisfy { $0.currency == "USD" && $0.costCurrency == "USD" })
            let acme = sums(3, 0, (1450, 200, 0, 420, 40), cost: "0.010123456789013", revenue: "0.013160493825718")
            let globex = sums(2, 1, (7, 0, 0, 3, 0), cost: "1.000000000000001", revenue: "0.5")
            let initech = sums(2, 1, (123_456, 654_321, 1000, 999, 500), cost: "0.17531", revenue: "0.2")
            #expect(report.rows.map(\.totals) == [acme, globex, initech])
            #expect(report.rows.map(\.totals.margin.description) == ["0.003037037036705", "-0.500000000000001", "0.02469"])
            // 23.0769…, −100.0000000000002, and 12.345 exactly: half to even gives 12.34.
            #expect(report.rows.map(\.totals.marginPercent) == ["23.08", "-100.00", "12.34"])
            try expectFixtureTotal(report)
        }
    }

    @Test("by model: the requested model, the served one when none was requested")
    func byModel() async throws {
        try await withFixture { meter in
            let report = try await meter.marginReport(MarginQuery(by: [.model]))
            #expect(report.rows.map { $0.group[.model] } == ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"])
            #expect(
                report.rows.map(\.totals) == [
                    sums(4, 1, (124_856, 654_521, 1000, 1399, 540), cost: "0.185433456789012", revenue: "0.213160493825716"),
                    sums(2, 0, (57, 0, 0, 23, 0), cost: "1.000000000000002", revenue: "0.500000000000002"),
                    sums(1, 1, (0, 0, 0, 0, 0), cost: "0", revenue: "0"),
                ])
            #expect(report.rows.map(\.totals.margin.description) == ["0.027727037036704", "-0.5", "0"])
            #expect(report.rows.map(\.totals.marginPercent) == ["13.01", "-100.00", nil])
            try expectFixtureTotal(report)
        }
    }

    @Test("by feature: events without one group under the empty value")
    func byFeature() async throws {
        try await withFixture { meter in
            let report = try await meter.marginReport(MarginQuery(by: [.feature]))
            #expect(report.rows.map { $0.group[.feature] } == ["", "chat", "search"])
            #expect(
                report.rows.map(\.totals) == [
                    sums(2, 1, (400, 0, 0, 100, 40), cost: "0.01", revenue: "0.013"),
                    sums(2, 1, (50, 0, 0, 20, 0), cost: "0.000000000000001", revenue: "0.000000000000002"),
                    sums(3, 0, (124_463, 654_521, 1000, 1302, 500), cost: "1.175433456789013", revenue: "0.700160493825716"),
                ])
            #expect(report.rows.map(\.totals.marginPercent) == ["23.08", "50.00", "-67.88"])
            try expectFixtureTotal(report)
        }
    }

    @Test("by day and by hour: UTC labels; 23:59:59.999 and 00:00:00 fall on their own days")
    func byTime() async throws {
        try await withFixture { meter in
            let days = try await meter.marginReport(MarginQuery(by: [.day]))
            #expect(days.rows.map { $0.group[.day] } == ["2026-11-20", "2026-11-21", "2026-11-22"])
            #expect(
                days.rows.map(\.totals) == [
                    sums(2, 0, (1050, 200, 0, 320, 0), cost: "0.000123456789013", revenue: "0.000160493825718"),
                    sums(4, 2, (407, 0, 0, 103, 40), cost: "1.010000000000001", revenue: "0.513"),
                    sums(1, 0, (123_456, 654_321, 1000, 999, 500), cost: "0.17531", revenue: "0.2"),
                ])
            try expectFixtureTotal(days)

            let hours = try await meter.marginReport(
                MarginQuery(fromMs: at("2026-11-21T00:00:00Z"), toMs: at("2026-11-22T00:00:00Z"), by: [.hour, .customer]))
            #expect(
                hours.rows.map { [$0.group[.hour] ?? "?", $0.group[.customer] ?? "?"] } == [
                    ["2026-11-21T00:00:00Z", "acme"], ["2026-11-21T00:00:00Z", "globex"], ["2026-11-21T01:00:00Z", "globex"],
                    ["2026-11-21T10:00:00Z", "initech"],
                ])
            #expect(hours.rows.map(\.totals.requests) == [1, 1, 1, 1])

            let months = try await meter.marginReport(MarginQuery(by: [.month]))
            #expect(months.rows.map { $0.group[.month] } == ["2026-11"])
            try expectFixtureTotal(months)
        }
    }

    @Test("customer × model, and filters by customer and by (served) model")
    func combinedAndFiltered() async throws {
        try await withFixture { meter in
            let both = try await meter.marginReport(MarginQuery(by: [.customer, .model]))
            #expect(
                both.rows.map { [$0.group[.customer] ?? "?", $0.group[.model] ?? "?"] } == [
                    ["acme", "gpt-4o"], ["acme", "gpt-4o-mini"], ["globex", "gpt-4o"], ["globex", "gpt-4o-mini"],
                    ["initech", "gpt-4o"], ["initech", "gpt-4o-mini-2024-07-18"],
                ])
            #expect(
                both.rows[0].totals == sums(2, 0, (1400, 200, 0, 400, 40), cost: "0.010123456789012", revenue: "0.013160493825716"))
            try expectFixtureTotal(both)

            let acme = try await meter.marginReport(MarginQuery(by: [.model], customer: "acme"))
            #expect(acme.rows.map { $0.group[.model] } == ["gpt-4o", "gpt-4o-mini"])
            #expect(acme.totals.map(\.totals) == [both.rows[0].totals + both.rows[1].totals])

            let served = try await meter.marginReport(MarginQuery(by: [.customer], model: "gpt-4o-mini-2024-07-18"))
            #expect(served.rows.map { $0.group[.customer] } == ["initech"])
            #expect(served.rows.map(\.totals.requests) == [1])

            let byKey = try await meter.marginReport(MarginQuery(by: [.key], provider: "openai"))
            #expect(byKey.rows.map { $0.group[.key] } == ["key_a1", "key_a2", "key_g", "key_i"])
            #expect(byKey.rows.map(\.totals.requests) == [2, 1, 2, 2])
            let nobody = try await meter.marginReport(MarginQuery(by: [.key], provider: "anthropic"))
            #expect(nobody.rows.isEmpty && nobody.totals.isEmpty)
        }
    }

    /// A range and the fixture events it must cover.
    struct FixtureRange: Sendable, CustomTestStringConvertible {
        var from: String?
        var to: String?
        var expected: [String]
        var testDescription: String { "[\(from ?? "open"), \(to ?? "open"))" }
    }

    @Test(
        "ranges: from inclusive, to exclusive, either open, on and off hour and day boundaries",
        arguments: [
            FixtureRange(from: "2026-11-20T23:00:00Z", to: "2026-11-21T01:00:00Z", expected: ["e2", "e3", "e4"]),
            FixtureRange(from: "2026-11-20T23:59:59.999Z", to: "2026-11-21T00:30:00.500Z", expected: ["e2", "e3"]),
            FixtureRange(from: "2026-11-21T00:30:00.500Z", to: nil, expected: ["e4", "e5", "e6", "e7"]),
            FixtureRange(from: "2026-11-21T00:30:00.501Z", to: nil, expected: ["e5", "e6", "e7"]),
            FixtureRange(from: nil, to: "2026-11-21T00:00:00Z", expected: ["e1", "e2"]),
            FixtureRange(from: nil, to: "2026-11-21T00:00:00.001Z", expected: ["e1", "e2", "e3"]),
            FixtureRange(from: "2026-11-21T00:00:00Z", to: "2026-11-22T00:00:00Z", expected: ["e3", "e4", "e5", "e6"]),
            FixtureRange(from: "2026-11-20T00:00:00Z", to: "2026-11-23T00:00:00Z", expected: ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]),
            FixtureRange(from: "2026-11-20T22:15:00.001Z", to: "2026-11-21T10:45:00Z", expected: ["e2", "e3", "e4", "e5"]),
            FixtureRange(from: "2026-11-21T02:00:00Z", to: "2026-11-21T10:00:00Z", expected: []),
            FixtureRange(from: "2026-11-21T00:10:00Z", to: "2026-11-21T00:20:00Z", expected: []),
        ])
    func ranges(_ range: FixtureRange) async throws {
        try await withFixture { meter in
            let covered = Self.fixture.filter { range.expected.contains($0.id) }
            for by in [[ReportDimension.customer], [.feature], [.hour], [.day, .model], [.key, .hour]] {
                let report = try await meter.marginReport(MarginQuery(fromMs: range.from.map(at), toMs: range.to.map(at), by: by))
                #expect(report.totals.map(\.totals) == (covered.isEmpty ? [] : [bruteTotals(covered)]), "by \(by)")
                #expect(report.rows.map(\.totals.requests).reduce(0, +) == covered.count, "by \(by)")
            }
        }
    }

    @Test("a range's sums, written out: [23:00, 01:00) holds e2, e3 and e4")
    func rangeSumsByHand() async throws {
        try await withFixture { meter in
            let report = try await meter.marginReport(
                MarginQuery(fromMs: at("2026-11-20T23:00:00Z"), toMs: at("2026-11-21T01:00:00Z"), by: [.customer]))
            #expect(
                report.totals.map(\.totals) == [sums(3, 0, (457, 0, 0, 123, 40), cost: "1.010000000000002", revenue: "0.513000000000002")])
            #expect(report.rows.map { $0.group[.customer] } == ["acme", "globex"])
        }
    }

    @Test("whole days and hours are read from the rollups, only the edges from the events")
    func readsRollups() async throws {
        try await withFixture { meter in
            let days = try await meter.marginReport(
                MarginQuery(fromMs: at("2026-11-20T00:00:00Z"), toMs: at("2026-11-23T00:00:00Z"), by: [.customer, .feature]))
            #expect(days.eventsRead == 0 && days.rollupRowsRead > 0)
            let hours = try await meter.marginReport(
                MarginQuery(fromMs: at("2026-11-20T22:00:00Z"), toMs: at("2026-11-21T02:00:00Z"), by: [.customer, .model]))
            #expect(hours.eventsRead == 0 && hours.rollupRowsRead > 0)
            let edges = try await meter.marginReport(
                MarginQuery(fromMs: at("2026-11-20T22:15:00Z"), toMs: at("2026-11-21T00:30:00.501Z"), by: [.customer]))
            // Events from 22:15 to 23:00 (e1) and from 00:00 to 00:30:00.501 (e3, e4); 23:00–00:00 (e2) from the hourly rollup.
            #expect(edges.eventsRead == 3)
            #expect(edges.totals.map(\.totals.requests) == [4])
        }
    }

    @Test("several currencies: rows and totals per (price, cost) currency pair, never added together")
    func currencies() async throws {
        try await withTemporaryMeter { meter in
            let base = at("2026-11-21T00:00:00Z")
            try await meter.insert([
                reportEvent("usd", ms: base, customer: "a", cost: "0.1", price: "0.3"),
                reportEvent("eur", ms: base + 1, customer: "a", cost: "0.1", price: "0.25", priceCurrency: "EUR"),
                reportEvent("eur2", ms: base + 2, customer: "b", cost: "0.2", price: "0.5", priceCurrency: "EUR"),
                reportEvent("gbp", ms: base + 3, customer: "b", cost: "0.4", price: "0.5", currency: "GBP", priceCurrency: "GBP"),
            ])
            let report = try await meter.marginReport(MarginQuery(by: [.customer]))
            #expect(
                report.rows.map { [$0.group[.customer] ?? "?", $0.currency, $0.costCurrency] } == [
                    ["a", "EUR", "USD"], ["a", "USD", "USD"], ["b", "EUR", "USD"], ["b", "GBP", "GBP"],
                ])
            #expect(report.totals.map { [$0.currency, $0.costCurrency] } == [["EUR", "USD"], ["GBP", "GBP"], ["USD", "USD"]])
            #expect(report.totals.map(\.totals.revenue.description) == ["0.75", "0.5", "0.3"])
            #expect(report.totals.map(\.totals.cost.description) == ["0.3", "0.4", "0.1"])
            #expect(report.totals.map(\.totals.requests) == [2, 1, 1])
        }
    }

    // MARK: - Figures

    @Test(
        "margin % is two decimals, rounded half to even; nil without revenue",
        arguments: [
            ("1", "0.87655", "12.34"), ("1", "0.87645", "12.36"), ("1", "1.00005", "0.00"), ("1", "1.00015", "-0.02"),
            ("1", "1.00025", "-0.02"), ("1", "0.999949999999999", "0.01"), ("3", "2", "33.33"), ("3", "1", "66.67"),
            ("0.000000000000001", "0", "100.00"), ("2", "6", "-200.00"), ("-1", "0", "100.00"), ("-1", "-2", "-100.00"),
        ])
    func marginPercent(_ revenue: String, _ cost: String, _ expected: String) {
        var totals = Totals()
        totals.revenue = amount(revenue)
        totals.cost = amount(cost)
        #expect(totals.marginPercent == expected)
    }

    @Test("no revenue, no margin %")
    func marginPercentWithoutRevenue() {
        var totals = Totals()
        totals.cost = amount("1")
        #expect(totals.marginPercent == nil)
        #expect(totals.margin == amount("-1"))
    }

    @Test("group-by lists: comma-separated, spaces and repeats allowed, unknown names refused with the accepted ones")
    func dimensionLists() throws {
        #expect(try ReportDimension.list("customer, model") == [.customer, .model])
        #expect(try ReportDimension.list("day,customer,day,") == [.day, .customer])
        #expect(try ReportDimension.list("") == [])
        let error = #expect(throws: MeterError.self) { try ReportDimension.list("customer,region") }
        #expect(error?.description == "cannot group by 'region': use customer, model, provider, feature, key, hour, day, month")
    }

    // MARK: - Segment planning

    static let day: Int64 = 86_400_000
    static let hour: Int64 = 3_600_000
    /// 2026-11-20T00:00:00Z.
    static let d0: Int64 = 1_795_132_800_000

    static func segment(_ source: ReportSource, _ from: Int64?, _ to: Int64?) -> ReportSegment {
        ReportSegment(source: source, fromMs: from, toMs: to)
    }

    @Test("plans: whole days from the daily rollup, whole hours from the hourly one, the rest from the events")
    func plans() {
        let monthly = ReportSource.rollup(Rollups.monthly)
        let daily = ReportSource.rollup(Rollups.daily)
        let hourly = ReportSource.rollup(Rollups.hourly)
        let (d0, day, hour) = (Self.d0, Self.day, Self.hour)
        let segment = Self.segment
        #expect(ReportSegment.plan(fromMs: nil, toMs: nil, dimensions: [.customer]) == [segment(monthly, nil, nil)])
        #expect(ReportSegment.plan(fromMs: d0, toMs: d0 + 2 * day, dimensions: [.customer]) == [segment(daily, d0, d0 + 2 * day)])
        let from = d0 + hour + 30 * 60_000
        let to = d0 + 2 * day + 2 * hour + 15 * 60_000
        #expect(
            ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.customer, .model, .provider, .day]) == [
                segment(.events, from, d0 + 2 * hour), segment(hourly, d0 + 2 * hour, d0 + day), segment(daily, d0 + day, d0 + 2 * day),
                segment(hourly, d0 + 2 * day, d0 + 2 * day + 2 * hour), segment(.events, d0 + 2 * day + 2 * hour, to),
            ])
        // The hourly rollup keeps no key nor feature.
        for dimension in [ReportDimension.feature, .key] {
            #expect(
                ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.customer, dimension]) == [
                    segment(.events, from, d0 + day), segment(daily, d0 + day, d0 + 2 * day), segment(.events, d0 + 2 * day, to),
                ])
        }
        // By hour: the daily rollup cannot say which hour.
        #expect(
            ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.hour, .customer]) == [
                segment(.events, from, d0 + 2 * hour), segment(hourly, d0 + 2 * hour, d0 + 2 * day + 2 * hour),
                segment(.events, d0 + 2 * day + 2 * hour, to),
            ])
        #expect(ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.hour, .feature]) == [segment(.events, from, to)])
        #expect(ReportSegment.plan(fromMs: nil, toMs: nil, dimensions: [.key, .hour]) == [segment(.events, nil, nil)])
        #expect(ReportSegment.plan(fromMs: nil, toMs: nil, dimensions: [.hour]) == [segment(hourly, nil, nil)])
        #expect(ReportSegment.plan(fromMs: d0, toMs: d0 + day, dimensions: []) == [segment(daily, d0, d0 + day)])
        #expect(ReportSegment.plan(fromMs: nil, toMs: nil, dimensions: [.day]) == [segment(daily, nil, nil)])
        #expect(ReportSegment.plan(fromMs: nil, toMs: nil, dimensions: [.month, .key]) == [segment(monthly, nil, nil)])
    }

    @Test("plans: whole months from the monthly rollup unless the report is by day or hour, over year ends and leap days")
    func monthPlans() {
        let monthly = ReportSource.rollup(Rollups.monthly)
        let daily = ReportSource.rollup(Rollups.daily)
        let hourly = ReportSource.rollup(Rollups.hourly)
        let (day, hour) = (Self.day, Self.hour)
        let segment = Self.segment
        let (october, november, december) = (at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"))
        let from = at("2026-10-15T10:30:00Z")
        let to = at("2026-12-03T01:15:00Z")
        #expect(october + 14 * day + 10 * hour + 30 * 60_000 == from && december + 2 * day + hour + 15 * 60_000 == to)
        let (october16, december3) = (october + 15 * day, december + 2 * day)
        for by in [[ReportDimension.customer], [.month, .model, .provider], []] {
            #expect(
                ReportSegment.plan(fromMs: from, toMs: to, dimensions: by) == [
                    segment(.events, from, from + 30 * 60_000), segment(hourly, from + 30 * 60_000, october16),
                    segment(daily, october16, november), segment(monthly, november, december), segment(daily, december, december3),
                    segment(hourly, december3, december3 + hour), segment(.events, december3 + hour, to),
                ], "by \(by)")
        }
        // Key and feature: no hourly edges.
        #expect(
            ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.month, .feature]) == [
                segment(.events, from, october16), segment(daily, october16, november), segment(monthly, november, december),
                segment(daily, december, december3), segment(.events, december3, to),
            ])
        // By day or hour: no months (whatever else the report groups by).
        #expect(
            ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.month, .day]) == [
                segment(.events, from, from + 30 * 60_000), segment(hourly, from + 30 * 60_000, october16),
                segment(daily, october16, december3), segment(hourly, december3, december3 + hour), segment(.events, december3 + hour, to),
            ])
        #expect(
            ReportSegment.plan(fromMs: from, toMs: to, dimensions: [.month, .hour]) == [
                segment(.events, from, from + 30 * 60_000), segment(hourly, from + 30 * 60_000, december3 + hour),
                segment(.events, december3 + hour, to),
            ])
        // Open ends.
        #expect(
            ReportSegment.plan(fromMs: nil, toMs: to, dimensions: [.customer]) == [
                segment(monthly, nil, december), segment(daily, december, december3), segment(hourly, december3, december3 + hour),
                segment(.events, december3 + hour, to),
            ])
        #expect(
            ReportSegment.plan(fromMs: from, toMs: nil, dimensions: [.feature]) == [
                segment(.events, from, october16), segment(daily, october16, november), segment(monthly, november, nil),
            ])
        // Exactly a month, exactly two, a month less a millisecond, a month and a millisecond.
        #expect(ReportSegment.plan(fromMs: november, toMs: december, dimensions: [.customer]) == [segment(monthly, november, december)])
        #expect(ReportSegment.plan(fromMs: october, toMs: december, dimensions: [.model]) == [segment(monthly, october, december)])
        #expect(
            ReportSegment.plan(fromMs: november, toMs: december - 1, dimensions: [.customer]) == [
                segment(daily, november, december - day), segment(hourly, december - day, december - hour),
                segment(.events, december - hour, december - 1),
            ])
        #expect(
            ReportSegment.plan(fromMs: november - 1, toMs: december, dimensions: [.key]) == [
                segment(.events, november - 1, november), segment(monthly, november, december),
            ])
        // Over a year's end, and February of a common and of a leap year.
        let (december31, january, march) = (at("2026-12-31T12:00:00Z"), at("2027-01-01T00:00:00Z"), at("2027-03-01T00:00:00Z"))
        #expect(
            ReportSegment.plan(fromMs: december31, toMs: march + 1, dimensions: [.customer]) == [
                segment(hourly, december31, january), segment(monthly, january, march), segment(.events, march, march + 1),
            ])
        #expect(
            ReportSegment.plan(fromMs: at("2027-02-01T00:00:00Z"), toMs: march, dimensions: [.customer]) == [
                segment(monthly, at("2027-02-01T00:00:00Z"), march)
            ])
        let (leapDay, march2028) = (at("2028-02-29T00:00:00Z"), at("2028-03-01T00:00:00Z"))
        #expect(ReportSegment.plan(fromMs: leapDay, toMs: march2028, dimensions: [.customer]) == [segment(daily, leapDay, march2028)])
        #expect(
            ReportSegment.plan(fromMs: leapDay - 28 * day, toMs: march2028, dimensions: [.customer]) == [
                segment(monthly, leapDay - 28 * day, march2028)
            ])
        // Before 1970: November 15, 1969 to February 1, 1970, 01:00.
        let (november1969, december1969, february1970) = (at("1969-11-15T00:00:00Z"), at("1969-12-01T00:00:00Z"), at("1970-02-01T00:00:00Z"))
        #expect(december1969 == -31 * day && february1970 == 31 * day)
        #expect(
            ReportSegment.plan(fromMs: november1969, toMs: february1970 + hour, dimensions: [.customer]) == [
                segment(daily, november1969, december1969), segment(monthly, december1969, february1970),
                segment(hourly, february1970, february1970 + hour),
            ])
        #expect(ReportSegment.plan(fromMs: nil, toMs: 0, dimensions: [.provider]) == [segment(monthly, nil, 0)])
    }

    @Test("plans: open ends, ranges inside one hour, empty and inverted ranges, times before 1970")
    func planEdges() {
        let monthly = ReportSource.rollup(Rollups.monthly)
        let daily = ReportSource.rollup(Rollups.daily)
        let hourly = ReportSource.rollup(Rollups.hourly)
        let (d0, day, hour) = (Self.d0, Self.day, Self.hour)
        let segment = Self.segment
        let by: [ReportDimension] = [.customer]
        // d0 is 2026-11-20: open ends read the months before November or from December.
        let (november, december) = (d0 - 19 * day, d0 + 11 * day)
        #expect(
            ReportSegment.plan(fromMs: nil, toMs: d0 + day + hour + 1, dimensions: by) == [
                segment(monthly, nil, november), segment(daily, november, d0 + day), segment(hourly, d0 + day, d0 + day + hour),
                segment(.events, d0 + day + hour, d0 + day + hour + 1),
            ])
        #expect(
            ReportSegment.plan(fromMs: d0 - 1, toMs: nil, dimensions: by) == [
                segment(.events, d0 - 1, d0), segment(daily, d0, december), segment(monthly, december, nil),
            ])
        #expect(
            ReportSegment.plan(fromMs: d0 + 30 * 60_000, toMs: nil, dimensions: by) == [
                segment(.events, d0 + 30 * 60_000, d0 + hour), segment(hourly, d0 + hour, d0 + day), segment(daily, d0 + day, december),
                segment(monthly, december, nil),
            ])
        #expect(ReportSegment.plan(fromMs: d0 + 1, toMs: d0 + 2, dimensions: by) == [segment(.events, d0 + 1, d0 + 2)])
        #expect(ReportSegment.plan(fromMs: d0 + hour, toMs: d0 + 2 * hour, dimensions: by) == [segment(hourly, d0 + hour, d0 + 2 * hour)])
        #expect(ReportSegment.plan(fromMs: d0, toMs: d0, dimensions: by).isEmpty)
        #expect(ReportSegment.plan(fromMs: d0 + 5, toMs: d0 + 5, dimensions: by).isEmpty)
        #expect(ReportSegment.plan(fromMs: d0 + day, toMs: d0, dimensions: by).isEmpty)
        #expect(ReportSegment.plan(fromMs: d0 + 7, toMs: d0 + 3, dimensions: by).isEmpty)
        // 1969-12-31T22:30:00Z to 1970-01-01T00:30:00Z.
        #expect(
            ReportSegment.plan(fromMs: -90 * 60_000, toMs: 30 * 60_000, dimensions: by) == [
                segment(.events, -90 * 60_000, -hour), segment(hourly, -hour, 0), segment(.events, 0, 30 * 60_000),
            ])
        #expect(
            ReportSegment.plan(fromMs: -2 * day - 1, toMs: -day, dimensions: by) == [
                segment(.events, -2 * day - 1, -2 * day), segment(daily, -2 * day, -day),
            ])
    }

    @Test("plans of random ranges tile [from, to) exactly, rollup segments on whole buckets of their grain")
    func planTiles() {
        var random = ReportRandom(seed: 0x5EED_0001)
        let dimensionSets: [[ReportDimension]] = [
            [.customer], [.feature], [.hour], [.hour, .key], [.day, .model], [.month, .provider], [.month, .day], [.month, .hour], [],
        ]
        for index in 0..<10_000 {
            // Around 2026-11-20 and around 1970, within days or within months.
            let center = index % 4 < 2 ? Self.d0 : 0
            let spread = (index % 2 == 0 ? 3 : 100) * Self.day
            let from = random.bool(1, in: 8) ? nil : random.instant(around: center, spread: spread)
            let to = random.bool(1, in: 8) ? nil : random.instant(around: center, spread: spread)
            let dimensions = dimensionSets[random.index(dimensionSets.count)]
            let plan = ReportSegment.plan(fromMs: from, toMs: to, dimensions: dimensions)
            if let from, let to, to <= from {
                #expect(plan.isEmpty)
                continue
            }
            #expect(plan.first?.fromMs == from && plan.last?.toMs == to, "\(String(describing: from)) \(String(describing: to))")
            for (left, right) in zip(plan, plan.dropFirst()) {
                #expect(left.toMs != nil && left.toMs == right.fromMs)
            }
            for segment in plan {
                if let a = segment.fromMs, let b = segment.toMs { #expect(a < b) }
                guard case .rollup(let table) = segment.source else { continue }
                #expect(segment.fromMs.map(table.grain.isBoundary) ?? true)
                #expect(segment.toMs.map(table.grain.isBoundary) ?? true)
                if table.name == Rollups.monthly.name { #expect(!dimensions.contains(.hour) && !dimensions.contains(.day)) }
                if table.name == Rollups.daily.name { #expect(!dimensions.contains(.hour)) }
                if table.name == Rollups.hourly.name { #expect(!dimensions.contains(.key) && !dimensions.contains(.feature)) }
            }
            // The coarsest table the dimensions allow: no finer segment holds a whole bucket of it.
            let hourlyServes = !dimensions.contains(.key) && !dimensions.contains(.feature)
            for segment in plan {
                guard let a = segment.fromMs, let b = segment.toMs else { continue }
                let finer: [Rollups.Table]
                switch segment.source {
                case .rollup(let table) where table.name == Rollups.monthly.name: finer = []
                case .rollup(let table) where table.name == Rollups.daily.name: finer = [Rollups.monthly]
                case .rollup: finer = [Rollups.monthly, Rollups.daily]
                case .events: finer = [Rollups.monthly, Rollups.daily] + (hourlyServes ? [Rollups.hourly] : [])
                }
                for table in finer where table.name != Rollups.monthly.name || !dimensions.contains(.day) {
                    guard !dimensions.contains(.hour) || table.name == Rollups.hourly.name else { continue }
                    let firstStart = table.grain.isBoundary(a) ? a : table.grain.next(after: a)
                    #expect(table.grain.next(after: firstStart) > b, "\(segment) holds a whole bucket of \(table.name), by \(dimensions)")
                }
            }
        }
    }

    @Test("month starts: integer civil-date arithmetic agrees with the Gregorian calendar, 1900 to 2400, before 1970 too")
    func monthStarts() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        func start(_ year: Int, _ month: Int) -> Int64 {
            let date = calendar.date(from: DateComponents(year: year, month: month, day: 1)) ?? .distantPast
            return Int64(date.timeIntervalSince1970) * 1000
        }
        for year in [1900, 1904, 1969, 1970, 1971, 2000, 2024, 2026, 2100, 2400] {
            for month in 1...12 {
                let (first, next) = (start(year, month), month == 12 ? start(year + 1, 1) : start(year, month + 1))
                for instant in [first, first + 1, first + 86_400_000 - 1, next - 1, (first + next) / 2] {
                    #expect(Timestamps.monthStart(containing: instant) == first, "\(year)-\(month) at \(instant)")
                    #expect(Timestamps.nextMonthStart(after: instant) == next, "\(year)-\(month) at \(instant)")
                }
                #expect(Rollups.monthly.grain.isBoundary(first) && !Rollups.monthly.grain.isBoundary(first + 86_400_000))
            }
        }
        #expect(Timestamps.monthStart(containing: -1) == -31 * Self.day && Timestamps.nextMonthStart(after: -1) == 0)
        #expect(Timestamps.monthStart(containing: 0) == 0 && Timestamps.nextMonthStart(after: 0) == 31 * Self.day)
        #expect(Timestamps.nextMonthStart(after: at("2028-02-29T23:59:59.999Z")) == at("2028-03-01T00:00:00Z"))
        #expect(Timestamps.nextMonthStart(after: at("2027-02-28T12:00:00Z")) == at("2027-03-01T00:00:00Z"))
    }

    // MARK: - Random events against brute force

    /// Where random events fall: within `days` days of `center`.
    struct RandomSpan: Sendable, CustomTestStringConvertible {
        var center: Int64
        var days: Int64
        var testDescription: String { "\(days) days around \(Timestamps.iso8601(center))" }
    }

    @Test(
        "random events, ranges and group-bys: the report equals the sums over the events, exactly",
        arguments: [
            RandomSpan(center: MarginReportTests.d0, days: 3), RandomSpan(center: 0, days: 3),
            // Over several months (2026-12-01 ± 70 days: September to February) and around 1970.
            RandomSpan(center: 1_796_083_200_000, days: 70), RandomSpan(center: 0, days: 70),
        ])
    func randomReports(span: RandomSpan) async throws {
        let center = span.center
        let spread = span.days * Self.day
        var random = ReportRandom(seed: UInt64(bitPattern: center) ^ 0xA11C_E5ED ^ UInt64(span.days))
        let events = randomEvents(span.days > 3 ? 1000 : 400, around: center, spread: spread, random: &random)
        try await withTemporaryMeter { meter in
            // Stored in batches of random sizes, out of time order.
            var pending = events.shuffled(using: &random)
            while !pending.isEmpty {
                let size = min(pending.count, 1 + random.index(60))
                try await meter.insert(Array(pending.prefix(size)))
                pending.removeFirst(size)
            }
            let queries = (0..<150).map { _ in randomQuery(around: center, spread: spread + Self.day, events: events, random: &random) }
            for query in queries { try await expectBruteForce(meter, query, events) }

            // The same events again, in one batch with repeats inside it and in other batches: nothing changes.
            let before = try await reports(meter, queries)
            try await meter.insert(events + events.prefix(50))
            for chunk in stride(from: 0, to: events.count, by: 97) { try await meter.insert(Array(events[chunk..<min(chunk + 97, events.count)])) }
            #expect(try await meter.eventCount() == events.count)
            #expect(try await reports(meter, queries) == before)

            // Rebuilt from the events: the same reports, and every monthly row the sum of its month's daily rows.
            #expect(try await meter.rebuildRollups() == events.count)
            #expect(try await reports(meter, queries) == before)
            try await expectMonthsSumDays(meter)

            // Rollups wrong or missing (events written by hand, rows lost): the rebuild puts them right.
            let farMonth = Timestamps.monthStart(containing: center + 400 * Self.day)
            try await meter.database.write { db in
                try db.execute(sql: "DELETE FROM usage_monthly WHERE customer_id = 'acme' OR bucket_ms < ?", arguments: [center])
                try db.execute(sql: "UPDATE usage_monthly SET requests = requests + 1, cost_rem = cost_rem + 7")
                try db.execute(sql: "DELETE FROM usage_daily WHERE key_id LIKE '%_0'")
                try db.execute(sql: "UPDATE usage_hourly SET price_e7 = price_e7 - 1")
                for month in [farMonth, Timestamps.monthStart(containing: center)] {
                    try db.execute(
                        sql: "INSERT INTO usage_monthly SELECT ?, \(Rollups.monthly.dimensions.map(\.column).joined(separator: ", ")), "
                            + "\(Rollups.measures.joined(separator: ", ")) FROM usage_daily WHERE true LIMIT 5 ON CONFLICT DO NOTHING",
                        arguments: [month])
                }
            }
            #expect(try await meter.rebuildRollups() == events.count)
            #expect(try await reports(meter, queries) == before)
            try await expectMonthsSumDays(meter)
        }
    }

    /// Each `usage_monthly` row is the sum of its month's `usage_daily` rows, remainders under 10⁸, no month missing.
    private func expectMonthsSumDays(_ meter: MeterStore, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (months, days) = try await meter.database.read { db in
            (try SQLRow.fetchAll(db, sql: "SELECT * FROM usage_monthly"), try SQLRow.fetchAll(db, sql: "SELECT * FROM usage_daily"))
        }
        let columns = Rollups.monthly.dimensions.map(\.column)
        func sums(_ rows: [SQLRow], bucket: (Int64) -> Int64) -> [[String]: Totals] {
            var sums: [[String]: Totals] = [:]
            for row in rows {
                let key = [String(bucket(row["bucket_ms"]))] + columns.map { row[$0] as String }
                sums[key, default: Totals()] += Totals(row: row, offset: 1 + columns.count)
            }
            return sums
        }
        #expect(!months.isEmpty, sourceLocation: sourceLocation)
        let (monthSums, daySums) = (sums(months) { $0 }, sums(days, bucket: Timestamps.monthStart(containing:)))
        let wrong = Set(monthSums.keys).union(daySums.keys).filter { monthSums[$0] != daySums[$0] }
        #expect(
            wrong.isEmpty,
            "\(wrong.count) monthly groups differ from their days, e.g. \(wrong.sorted { $0.lexicographicallyPrecedes($1) }.prefix(3))",
            sourceLocation: sourceLocation)
        #expect(Set(months.map { $0["bucket_ms"] as Int64 }).allSatisfy(Rollups.monthly.grain.isBoundary), sourceLocation: sourceLocation)
        #expect(
            months.allSatisfy { ($0["cost_rem"] as Int64).magnitude < 100_000_000 && ($0["price_rem"] as Int64).magnitude < 100_000_000 },
            sourceLocation: sourceLocation)
    }

    @Test("large amounts and many events in one bucket stay exact (remainders carried, negatives included)")
    func largeSums() async throws {
        try await withTemporaryMeter { meter in
            var random = ReportRandom(seed: 42)
            let base = at("2026-11-21T05:00:00Z")
            var events: [UsageEvent] = []
            for index in 0..<300 {
                // Up to ±10⁹ currency units with 15 fractional digits, most remainders near 10⁸ femto-units.
                let whole = Int128(random.index(1_000_000_000)) * Money.scale
                let fraction = Int128(99_999_999) - Int128(random.index(1000)) + Int128(random.index(1_000_000)) * 100_000_000
                let sign: Int128 = index % 7 == 0 ? -1 : 1
                let cost = Money(raw: sign * (whole + fraction))
                let price = Money(raw: whole / 3 + fraction)
                events.append(
                    reportEvent("big\(index)", ms: base + Int64(index), customer: "c\(index % 2)", cost: cost.description, price: price.description))
            }
            // One event per batch: every amount goes through the upsert's carry.
            for event in events { try await meter.insert([event]) }
            let report = try await meter.marginReport(MarginQuery(fromMs: base - Self.hour, toMs: base + Self.day, by: [.customer]))
            #expect(report.eventsRead == 0)
            #expect(report.rows.map(\.totals) == ["c0", "c1"].map { customer in bruteTotals(events.filter { $0.customer == customer }) })
            let remainders = try await meter.database.read { db in
                try Int64.fetchAll(
                    db,
                    sql: """
                        SELECT cost_rem FROM usage_hourly UNION ALL SELECT price_rem FROM usage_daily
                        UNION ALL SELECT cost_rem FROM usage_monthly UNION ALL SELECT price_rem FROM usage_monthly
                        """)
            }
            #expect(remainders.allSatisfy { $0.magnitude < 100_000_000 })
        }
    }

    // MARK: - Upgrading a meter written before rollups

    @Test("a meter written at schema v3 gets its rollups filled when it opens")
    func upgradeFromV3() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var random = ReportRandom(seed: 3)
            let events = Self.fixture + randomEvents(150, around: Self.d0, random: &random)
            do {
                let pool = try DatabasePool(path: path)
                try SQLiteMeterDatabase.migrator(upTo: "v3: teams, credits ledger, reservations, limits, alerts").migrate(pool)
                try await pool.write { db in
                    #expect(try !db.tableExists("usage_daily"))
                    for event in events { try db.execute(sql: Self.v3InsertSQL, arguments: Self.v3Arguments(event)) }
                }
                try pool.close()
            }
            let meter = try MeterStore(path: path)
            let applied = try meter.appliedMigrations()
            #expect(applied.contains { $0.hasPrefix("v4") })
            for by in [[ReportDimension.customer], [.model, .day], [.feature, .key], [.hour, .provider], [.month, .feature]] {
                let report = try await meter.marginReport(MarginQuery(by: by))
                #expect(report.eventsRead == 0)  // all from the rollups the upgrade filled
                expectRows(report, brute(MarginQuery(by: by), events))
            }
            let fixtureOnly = try await meter.marginReport(MarginQuery(by: [.customer], model: "gpt-4o-mini-2024-07-18"))
            #expect(fixtureOnly.rows.map(\.totals) == [sums(1, 1, (0, 0, 0, 0, 0), cost: "0", revenue: "0")])
        }
    }

    /// An `events` row as schema v3 has it (no column added later).
    static let v3Columns = [
        "id", "ts_ms", "customer_id", "key_id", "feature", "end_user", "project", "provider", "route", "path", "model", "served_model",
        "status", "stream", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
        "reasoning_tokens", "input_audio_tokens", "output_audio_tokens", "raw_usage", "service_tier", "latency_ms", "ttfb_ms",
        "upstream_ms", "cost", "price", "currency", "estimated", "priced", "note", "idempotency_key", "input_image_tokens",
        "output_image_tokens", "web_search_requests", "web_fetch_requests", "price_book", "price_currency",
    ]
    static let v3InsertSQL =
        "INSERT INTO events (\(v3Columns.joined(separator: ", "))) VALUES (\(v3Columns.map { _ in "?" }.joined(separator: ", ")))"

    static func v3Arguments(_ event: UsageEvent) -> StatementArguments {
        let usage = event.usage
        let values: [(any DatabaseValueConvertible)?] = [
            event.id, event.timestampMs, event.customer, event.keyID, event.feature, event.endUser, event.project, event.provider,
            event.route, event.path, event.model, event.servedModel, event.status, event.stream, usage.inputTokens, usage.cacheReadTokens,
            usage.cacheWriteTokens, usage.cacheWrite1hTokens, usage.outputTokens, usage.reasoningTokens, usage.inputAudioTokens,
            usage.outputAudioTokens, event.rawUsage, event.serviceTier, event.latencyMs, event.ttfbMs, event.upstreamMs,
            event.cost.description, event.price.description, event.currency, event.estimated, event.priced, event.note,
            event.idempotencyKey, usage.inputImageTokens, usage.outputImageTokens, usage.webSearchRequests, usage.webFetchRequests,
            event.priceBook, event.priceCurrency,
        ]
        return StatementArguments(values)
    }

    // MARK: - Helpers

    /// Runs `body` with a meter holding the fixture.
    private func withFixture(_ body: (MeterStore) async throws -> Void) async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.fixture)
            try await body(meter)
        }
    }

    /// The fixture's grand total, by hand: 7 requests, 2 errors, −66.22 %.
    private func expectFixtureTotal(_ report: MarginReport) throws {
        let total = sums(7, 2, (124_913, 654_521, 1000, 1422, 540), cost: "1.185433456789014", revenue: "0.713160493825718")
        #expect(report.totals.count == 1)
        let row = try #require(report.totals.first)
        #expect(row.totals == total)
        #expect(row.totals.margin.description == "-0.472272962963296")
        #expect(row.totals.marginPercent == "-66.22")
        #expect((row.currency, row.costCurrency) == ("USD", "USD"))
        #expect(row.group.isEmpty)
    }

    /// Checks a report against the brute-force sums of a query over events.
    private func expectBruteForce(_ meter: MeterStore, _ query: MarginQuery, _ events: [UsageEvent]) async throws {
        let report = try await meter.marginReport(query)
        expectRows(report, brute(query, events))
    }

    private func expectRows(_ report: MarginReport, _ expected: BruteReport, sourceLocation: SourceLocation = #_sourceLocation) {
        let query = report.query
        let rows = Dictionary(
            report.rows.map { row in (query.by.map { row.group[$0] ?? "∅" } + [row.currency, row.costCurrency], row.totals) },
            uniquingKeysWith: { first, _ in first })
        #expect(rows.count == report.rows.count, "duplicate groups in \(query)", sourceLocation: sourceLocation)
        #expect(rows == expected.rows, "\(query)", sourceLocation: sourceLocation)
        let totals = Dictionary(uniqueKeysWithValues: report.totals.map { ([$0.currency, $0.costCurrency], $0.totals) })
        #expect(totals == expected.totals, "\(query)", sourceLocation: sourceLocation)
        // Rows come in group order.
        let keys = report.rows.map { row in query.by.map { row.group[$0] ?? "" } + [row.currency, row.costCurrency] }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) }, "\(query)", sourceLocation: sourceLocation)
    }

    private func reports(_ meter: MeterStore, _ queries: [MarginQuery]) async throws -> [[MarginRow]] {
        var all: [[MarginRow]] = []
        for query in queries {
            let report = try await meter.marginReport(query)
            all.append(report.rows)
            all.append(report.totals)
        }
        return all
    }
}

// MARK: - Brute force

/// A report's expected rows (group values, then price and cost currency) and totals (price and cost currency).
private struct BruteReport {
    var rows: [[String]: Totals] = [:]
    var totals: [[String]: Totals] = [:]
}

/// The sums of a query over events, one event at a time, with no rollup, no segment and no SQL.
private func brute(_ query: MarginQuery, _ events: [UsageEvent]) -> BruteReport {
    var report = BruteReport()
    for event in events {
        if let from = query.fromMs, event.timestampMs < from { continue }
        if let to = query.toMs, event.timestampMs >= to { continue }
        let model = event.model ?? event.servedModel ?? ""
        if let customer = query.customer, event.customer != customer { continue }
        if let provider = query.provider, event.provider != provider { continue }
        if let wanted = query.model, model != wanted { continue }
        let values = query.by.map { dimension -> String in
            switch dimension {
            case .customer: event.customer
            case .model: model
            case .provider: event.provider
            case .feature: event.feature ?? ""
            case .key: event.keyID
            case .hour: utcLabel(event.timestampMs, length: 13) + ":00:00Z"
            case .day: utcLabel(event.timestampMs, length: 10)
            case .month: utcLabel(event.timestampMs, length: 7)
            }
        }
        let currencies = [event.priceCurrency ?? event.currency, event.currency]
        report.rows[values + currencies, default: Totals()] += bruteTotals([event])
        report.totals[currencies, default: Totals()] += bruteTotals([event])
    }
    return report
}

/// `yyyy-MM-ddTHH` cut to `length` characters, formatted apart from the report's own code (Gregorian, UTC).
private func utcLabel(_ milliseconds: Int64, length: Int) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
    let seconds = milliseconds >= 0 ? milliseconds / 1000 : -((-milliseconds + 999) / 1000)
    let parts = calendar.dateComponents([.year, .month, .day, .hour], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    func pad(_ value: Int?, _ width: Int) -> String {
        let text = String(value ?? 0)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    let text = "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))T\(pad(parts.hour, 2))"
    return String(text.prefix(length))
}

/// The sums over events, field by field.
private func bruteTotals(_ events: [UsageEvent]) -> Totals {
    var totals = Totals()
    for event in events {
        totals.requests += 1
        totals.errors += event.status >= 400 ? 1 : 0
        totals.inputTokens += event.usage.inputTokens
        totals.cacheReadTokens += event.usage.cacheReadTokens
        totals.cacheWriteTokens += event.usage.cacheWriteTokens
        totals.outputTokens += event.usage.outputTokens
        totals.reasoningTokens += event.usage.reasoningTokens
        totals.cost = Money(raw: totals.cost.raw + event.cost.raw)
        totals.revenue = Money(raw: totals.revenue.raw + event.price.raw)
    }
    return totals
}

extension Totals {
    fileprivate static func + (lhs: Totals, rhs: Totals) -> Totals {
        var sum = lhs
        sum += rhs
        return sum
    }
}

/// Totals written out: requests, errors, token classes (input, cache read, cache write, output, reasoning), money.
private func sums(
    _ requests: Int, _ errors: Int, _ tokens: (Int, Int, Int, Int, Int), cost: String, revenue: String
) -> Totals {
    var totals = Totals()
    totals.requests = requests
    totals.errors = errors
    (totals.inputTokens, totals.cacheReadTokens, totals.cacheWriteTokens, totals.outputTokens, totals.reasoningTokens) = tokens
    totals.cost = amount(cost)
    totals.revenue = amount(revenue)
    return totals
}

// MARK: - Events and randomness

/// An exact amount written in a test.
private func amount(_ text: String) -> Money {
    guard let value = Money(text) else { preconditionFailure("'\(text)' is not a decimal amount") }
    return value
}

/// An ISO 8601 time written in a test, in milliseconds.
private func at(_ text: String) -> Int64 {
    guard let milliseconds = Timestamps.parse(text) else { preconditionFailure("'\(text)' is not a time") }
    return milliseconds
}

private func reportEvent(
    _ id: String, at time: String, customer: String, key: String, feature: String?, model: String?, servedModel: String? = nil,
    status: Int = 200, stream: Bool = false, tokens: (Int, Int, Int, Int, Int), cost: String, price: String
) -> UsageEvent {
    UsageEvent(
        id: id, timestampMs: at(time), customer: customer, keyID: key, feature: feature, provider: "openai",
        route: APIName.openAIChat.rawValue, path: "/v1/chat/completions", model: model, servedModel: servedModel ?? model, status: status,
        stream: stream,
        usage: TokenUsage(
            inputTokens: tokens.0, cacheReadTokens: tokens.1, cacheWriteTokens: tokens.2, outputTokens: tokens.3, reasoningTokens: tokens.4),
        latencyMs: 10, ttfbMs: nil, upstreamMs: nil, cost: amount(cost), price: amount(price), currency: "USD", estimated: false,
        priced: true)
}

private func reportEvent(
    _ id: String, ms: Int64, customer: String, cost: String, price: String, currency: String = "USD", priceCurrency: String? = nil
) -> UsageEvent {
    UsageEvent(
        id: id, timestampMs: ms, customer: customer, keyID: "key_\(customer)", provider: "openai", route: APIName.openAIChat.rawValue,
        path: "/v1/chat/completions", model: "m", servedModel: "m", status: 200, stream: false, usage: TokenUsage(inputTokens: 1),
        latencyMs: 1, ttfbMs: nil, upstreamMs: nil, cost: amount(cost), price: amount(price), currency: currency, estimated: false,
        priced: true, priceCurrency: priceCurrency)
}

/// `count` random events within `spread` of `center`: three customers with two keys each, two providers, two
/// requested models and requests naming none, features or none, failed requests, amounts with 15 fractional digits
/// (a few negative, as a refund would be), and a few prices in another currency.
private func randomEvents(
    _ count: Int, around center: Int64, spread: Int64 = 3 * MarginReportTests.day, random: inout ReportRandom
) -> [UsageEvent] {
    let customers = ["acme", "globex", "initech"]
    let statuses = [200, 200, 200, 200, 400, 402, 429, 499, 502]
    return (0..<count).map { index in
        let customer = customers[random.index(customers.count)]
        let modelIndex = random.index(3)
        let model: String? = modelIndex == 2 ? nil : ["gpt-4o", "gpt-4o-mini"][modelIndex]
        let features: [String?] = [nil, "search", "chat"]
        let currency = random.bool(1, in: 10) ? "EUR" : "USD"
        let priceCurrency: String? = random.bool(1, in: 6) ? "EUR" : (random.bool(1, in: 2) ? nil : currency)
        return UsageEvent(
            id: "rnd_\(index)", timestampMs: random.instant(around: center, spread: spread), customer: customer,
            keyID: "key_\(customer)_\(random.index(2))", feature: features[random.index(3)],
            provider: random.bool(1, in: 3) ? "anthropic" : "openai", route: APIName.openAIChat.rawValue, path: "/v1/chat/completions",
            model: model, servedModel: random.bool(1, in: 5) ? nil : "served-\(modelIndex)", status: statuses[random.index(statuses.count)],
            stream: random.bool(1, in: 2),
            usage: TokenUsage(
                inputTokens: random.index(100_000), cacheReadTokens: random.index(50_000), cacheWriteTokens: random.index(1000),
                outputTokens: random.index(20_000), reasoningTokens: random.index(5000)),
            latencyMs: 1, ttfbMs: nil, upstreamMs: nil, cost: random.money(), price: random.money(), currency: currency,
            estimated: false, priced: true, priceCurrency: priceCurrency)
    }
}

/// A random query: each end open, on a whole month, day or hour, on an event's instant or anywhere; one to three
/// group-bys in any order; sometimes a filter.
private func randomQuery(
    around center: Int64, spread: Int64 = 4 * MarginReportTests.day, events: [UsageEvent], random: inout ReportRandom
) -> MarginQuery {
    func end() -> Int64? {
        let instant = random.instant(around: center, spread: spread)
        switch random.index(7) {
        case 0: return nil
        case 1: return instant - instant.floorModulo(MarginReportTests.day)
        case 2: return instant - instant.floorModulo(MarginReportTests.hour)
        case 3: return events[random.index(events.count)].timestampMs
        case 4: return Timestamps.monthStart(containing: instant)
        default: return instant
        }
    }
    var from = end()
    var to = end()
    if let a = from, let b = to, b < a { (from, to) = (b, a) }
    let by = Array(ReportDimension.allCases.shuffled(using: &random).prefix(1 + random.index(3)))
    var query = MarginQuery(fromMs: from, toMs: to, by: by)
    switch random.index(8) {
    case 0: query.customer = ["acme", "globex", "initech", "nobody"][random.index(4)]
    case 1: query.provider = ["openai", "anthropic"][random.index(2)]
    case 2: query.model = ["gpt-4o", "gpt-4o-mini", "served-2", ""][random.index(4)]
    default: break
    }
    return query
}

/// SplitMix64: seeded, so that a failure reproduces.
private struct ReportRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<count.
    mutating func index(_ count: Int) -> Int { Int.random(in: 0..<count, using: &self) }

    /// True `chances` times in `outOf`.
    mutating func bool(_ chances: Int, in outOf: Int) -> Bool { index(outOf) < chances }

    /// A millisecond within `spread` of `center`; a quarter of them on a whole hour, day or month, where edges are.
    mutating func instant(around center: Int64, spread: Int64) -> Int64 {
        let instant = center + Int64.random(in: -spread...spread, using: &self)
        switch index(16) {
        case 0, 1: return instant - instant.floorModulo(MarginReportTests.hour)
        case 2, 3: return instant - instant.floorModulo(MarginReportTests.day)
        case 4: return Timestamps.monthStart(containing: instant)
        default: return instant
        }
    }

    /// An amount with 15 fractional digits, up to a few thousand units; one in ten negative, one in ten zero.
    mutating func money() -> Money {
        switch index(10) {
        case 0: return .zero
        case 1: return Money(raw: -Int128(Int64.random(in: 1...999_999_999_999_999_999, using: &self)))
        default: return Money(raw: Int128(Int64.random(in: 0...999_999_999_999_999_999, using: &self)) * Int128(index(3) + 1))
        }
    }
}
