import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TollgateCore

@testable import TollgateAdmin
@testable import TollgateStore

/// The admin API over a temporary meter, through Hummingbird's router test mode: the token, each operation's effect
/// on the meter and its answer (checked against the OpenAPI document's schema), bad input named by field, and the
/// OpenAPI document describing exactly the routes served.
@Suite("Admin API")
struct AdminAPITests {
    static let token = "admin-token-for-tests-0123"

    // MARK: - Token

    @Test("every route but the health check needs the bearer token; a wrong one is refused like a missing one")
    func token() async throws {
        try await withAdminAPI { client, _ in
            let missing = try await client.call(.get, "/admin/v1/customers", token: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing.string("error.code") == "unauthorized")
            #expect(missing.headers[.wwwAuthenticate] == "Bearer realm=\"tollgate-admin\"")
            let wrong = try await client.call(.get, "/admin/v1/customers", token: Self.token + "x")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.string("error.message") == "wrong admin token")
            #expect(try await client.call(.get, "/admin/v1/customers", token: String(Self.token.dropLast())).status == .unauthorized)
            #expect(try await client.call(.get, "/admin/v1/customers", headers: [.authorization: "Basic \(Self.token)"]).status == .unauthorized)
            #expect(try await client.call(.get, "/admin/openapi.json", token: nil).status == .unauthorized)
            // An unknown path does not tell a caller without the token whether it exists.
            #expect(try await client.call(.get, "/admin/v1/nothing", token: nil).status == .unauthorized)

            let health = try await client.call(.get, "/admin/healthz", token: nil)
            #expect(health.status == .ok && health.string("status") == "ok")
            #expect(try await client.call(.get, "/admin/v1/customers", headers: [.authorization: "bearer \(Self.token)"]).status == .ok)
            let unknown = try await client.call(.get, "/admin/v1/nothing")
            #expect(unknown.status == .notFound && unknown.string("error.code") == "not_found")
        }
    }

    // MARK: - Operations

    @Test("customer, key, grants, balance and ledger: each change is in the meter at once")
    func customerKeyGrantBalance() async throws {
        try await withAdminAPI { client, meter in
            let created = try await client.call(.post, "/admin/v1/customers", #"{"id": "acme", "name": "Acme Corp", "models": ["gpt-4o*"]}"#)
            #expect(created.status == .created)
            try created.expectConforms(to: "Customer")
            #expect(created.string("id") == "acme" && created.strings("models") == ["gpt-4o*"])
            #expect(created.string("created").flatMap(Timestamps.parse) != nil)
            #expect(try await client.call(.post, "/admin/v1/customers", #"{"id": "acme"}"#).status == .conflict)

            let key = try await client.call(.post, "/admin/v1/keys", #"{"customer": "acme", "name": "ci"}"#)
            #expect(key.status == .created)
            try key.expectConforms(to: "CreatedKey")
            let secret = try #require(key.string("secret"))
            let keyID = try #require(key.string("id"))
            #expect(try meter.authenticate(secret: secret)?.id == keyID)

            let first = try await client.call(
                .post, "/admin/v1/customers/acme/grants",
                #"{"amount": "25.50", "priority": 1, "expires": "2030-01-01T00:00:00Z", "note": "PO-1"}"#)
            #expect(first.status == .created)
            try first.expectConforms(to: "Grant")
            #expect(first.string("amount") == "25.5" && first.string("currency") == "USD" && first.int("priority") == 1)
            #expect(first.string("expires") == "2030-01-01T00:00:00Z" && first.string("account") == "customer:acme")
            let second = try await client.call(.post, "/admin/v1/customers/acme/grants", #"{"amount": "10"}"#)
            #expect(second.status == .created && second.int("priority") == 10 && second.string("expires") == nil)

            let balance = try await client.call(.get, "/admin/v1/customers/acme/balance")
            try balance.expectConforms(to: "Balance")
            #expect(balance.string("granted") == "35.5" && balance.string("available") == "35.5" && balance.string("spent") == "0")
            #expect(balance.strings("grants.*.id") == [first.string("id"), second.string("id")].compactMap { $0 })
            #expect(try await meter.balance(account: "customer:acme", currency: "USD").available == Money("35.5"))

            let detail = try await client.call(.get, "/admin/v1/customers/acme")
            try detail.expectConforms(to: "CustomerDetail")
            #expect(detail.string("customer.name") == "Acme Corp" && detail.string("balance.available") == "35.5")
            #expect(detail.strings("keys.*.id") == [keyID])

            let ledger = try await client.call(.get, "/admin/v1/customers/acme/ledger?limit=1")
            try ledger.expectConforms(to: "LedgerPage")
            #expect(ledger.strings("entries.*.kind") == ["grant"] && ledger.strings("entries.*.amount") == ["10"])
            let grants = try await client.call(.get, "/admin/v1/customers/acme/grants")
            try grants.expectConforms(to: "GrantList")
            #expect(grants.strings("grants.*.amount") == ["25.5", "10"])

            let keys = try await client.call(.get, "/admin/v1/keys?customer=acme")
            try keys.expectConforms(to: "KeyList")
            #expect(keys.strings("keys.*.id") == [keyID] && keys.string("keys.0.secret") == nil)
            #expect(try await client.call(.get, "/admin/v1/keys?customer=other").strings("keys.*.id") == [])
            let revoked = try await client.call(.delete, "/admin/v1/keys/\(keyID)")
            #expect(revoked.status == .ok && revoked.string("revoked") != nil)
            #expect(try meter.authenticate(secret: secret) == nil)
            #expect(try await client.call(.delete, "/admin/v1/keys/\(keyID)").status == .conflict)
            #expect(try await client.call(.delete, "/admin/v1/keys/key_nope").status == .notFound)

            let updated = try await client.call(.patch, "/admin/v1/customers/acme", #"{"models": [], "name": "Acme"}"#)
            #expect(updated.status == .ok && updated.string("name") == "Acme" && updated.value("models") == nil)
            #expect(try await meter.customer(id: "acme")?.models == nil)
            #expect(try await client.call(.get, "/admin/v1/customers").strings("customers.*.id") == ["acme"])
        }
    }

    @Test("a customer's own billing cycle: set, shown with its current period, removed; a bad one is refused by field")
    func billingCycle() async throws {
        try await withAdminAPI { client, meter in
            let created = try await client.call(
                .post, "/admin/v1/customers", #"{"id": "nyc", "billing_cycle": {"cadence": "month", "anchor": 15, "time_zone": "America/New_York"}}"#)
            #expect(created.status == .created)
            try created.expectConforms(to: "Customer")
            #expect(created.string("billing_cycle.anchor") == "15" && created.string("billing_cycle.time_zone") == "America/New_York")
            let detail = try await client.call(.get, "/admin/v1/customers/nyc")
            try detail.expectConforms(to: "CustomerDetail")
            #expect(detail.string("billing_cycle.description") == "monthly from the 15th at 00:00 America/New_York")
            #expect(detail.string("billing_cycle.source") == "customer")
            #expect(detail.string("billing_cycle.current_period.name")?.hasSuffix("-15") == true)
            let reset = try await client.call(.patch, "/admin/v1/customers/nyc", #"{"billing_cycle": "default"}"#)
            #expect(reset.status == .ok && reset.value("billing_cycle") == nil)
            #expect(try await meter.customer(id: "nyc")?.billingCycle == nil)
            let fallback = try await client.call(.get, "/admin/v1/customers/nyc")
            #expect(fallback.string("billing_cycle.source") == "default" && fallback.string("billing_cycle.time_zone") == "UTC")
            for body in [
                #"{"billing_cycle": {"cadence": "month", "time_zone": "Nowhere/Town"}}"#, #"{"billing_cycle": {"anchor": "3"}}"#,
                #"{"billing_cycle": {"cadence": "month", "day": "3"}}"#, #"{"billing_cycle": "monthly"}"#,
            ] {
                let refused = try await client.call(.patch, "/admin/v1/customers/nyc", body)
                #expect(refused.status == .badRequest && refused.string("error.field") == "billing_cycle", "\(body): \(refused.text)")
            }
        }
    }

    @Test("a team's customers draw from its pool: grants go to the team, a member's balance is the team's")
    func teamPool() async throws {
        try await withAdminAPI { client, meter in
            let team = try await client.call(.post, "/admin/v1/teams", #"{"id": "acme-group", "name": "Acme Group"}"#)
            #expect(team.status == .created)
            try team.expectConforms(to: "Team")
            #expect(try await client.call(.post, "/admin/v1/teams", #"{"id": "acme-group"}"#).status == .conflict)
            #expect(try await client.call(.post, "/admin/v1/customers", #"{"id": "acme", "team": "acme-group"}"#).status == .created)
            let typo = try await client.call(.post, "/admin/v1/customers", #"{"id": "beta", "team": "acme-grp"}"#)
            #expect(typo.status == .notFound && typo.string("error.field") == "team")

            let refused = try await client.call(.post, "/admin/v1/customers/acme/grants", #"{"amount": "5"}"#)
            #expect(refused.status == .conflict && refused.string("error.code") == "conflict")
            #expect(refused.string("error.message")?.contains("POST /admin/v1/teams/acme-group/grants") == true)
            let grant = try await client.call(.post, "/admin/v1/teams/acme-group/grants", #"{"amount": "100"}"#)
            #expect(grant.status == .created && grant.string("account") == "team:acme-group")

            let member = try await client.call(.get, "/admin/v1/customers/acme/balance")
            #expect(member.string("account") == "team:acme-group" && member.string("available") == "100")
            #expect(try await client.call(.get, "/admin/v1/customers/acme/grants").string("account") == "team:acme-group")
            let detail = try await client.call(.get, "/admin/v1/teams/acme-group")
            try detail.expectConforms(to: "TeamDetail")
            #expect(detail.strings("team.customers") == ["acme"] && detail.string("balance.granted") == "100")
            #expect(try await client.call(.get, "/admin/v1/teams/acme-group/balance").string("available") == "100")
            #expect(try await client.call(.get, "/admin/v1/teams").strings("teams.*.id") == ["acme-group"])
            let renamed = try await client.call(.patch, "/admin/v1/teams/acme-group", #"{"name": "Acme Holdings"}"#)
            #expect(renamed.status == .ok && renamed.string("name") == "Acme Holdings")

            let left = try await client.call(.patch, "/admin/v1/customers/acme", #"{"team": ""}"#)
            #expect(left.status == .ok && left.string("team") == nil)
            #expect(try await meter.customer(id: "acme")?.team == nil)
            let own = try await client.call(.get, "/admin/v1/customers/acme/balance")
            #expect(own.string("account") == "customer:acme" && own.string("available") == "0")
            // A customer holding grants of its own cannot join a team.
            #expect(try await client.call(.post, "/admin/v1/customers/acme/grants", #"{"amount": "1"}"#).status == .created)
            #expect(try await client.call(.patch, "/admin/v1/customers/acme", #"{"team": "acme-group"}"#).status == .conflict)
        }
    }

    @Test("limits: created with defaults, listed with their status (used from the period's events), removed")
    func limits() async throws {
        try await withAdminAPI { client, meter in
            #expect(try await client.call(.post, "/admin/v1/customers", #"{"id": "acme"}"#).status == .created)
            let keyID = try #require(try await client.call(.post, "/admin/v1/keys", #"{"customer": "acme"}"#).string("id"))
            try await meter.insert([Self.event(customer: "acme", price: "1.25")])

            let cap = try await client.call(
                .post, "/admin/v1/limits", #"{"scope": "customer", "scope_id": "acme", "metric": "money", "period": "month", "amount": "500"}"#)
            #expect(cap.status == .created)
            try cap.expectConforms(to: "LimitStatus")
            #expect(cap.string("limit.enforcement") == "hard" && cap.ints("limit.thresholds") == [50, 80, 100])
            #expect(cap.string("used") == "1.25" && cap.string("reserved") == "0" && cap.string("remaining") == "498.75")
            #expect(cap.string("period_start")?.hasSuffix("-01T00:00:00Z") == true && cap.string("period_end") != nil)
            let capID = try #require(cap.string("limit.id"))

            let rate = try await client.call(
                .post, "/admin/v1/limits",
                #"""
                {"scope": "key", "scope_id": "\#(keyID)", "metric": "requests", "period": "minute", "amount": 60, "enforcement": "soft",
                 "thresholds": [80], "anchor": "2026-11-15T09:00:00Z", "note": "burst"}
                """#)
            #expect(rate.status == .created)
            #expect(rate.string("limit.amount") == "60" && rate.string("limit.enforcement") == "soft" && rate.ints("limit.thresholds") == [80])
            #expect(rate.string("limit.anchor") == "2026-11-15T09:00:00Z" && rate.string("limit.note") == "burst")
            #expect(try await meter.limits(scope: .key, scopeID: keyID).count == 1)

            let all = try await client.call(.get, "/admin/v1/limits")
            try all.expectConforms(to: "LimitList")
            #expect(all.strings("limits.*.limit.scope") == ["customer", "key"])
            #expect(try await client.call(.get, "/admin/v1/limits?scope=customer&scope_id=acme").strings("limits.*.limit.id") == [capID])
            #expect(try await client.call(.get, "/admin/v1/customers/acme").strings("limits.*.limit.metric") == ["money", "requests"])

            let removed = try await client.call(.delete, "/admin/v1/limits/\(capID)")
            #expect(removed.status == .ok)
            try removed.expectConforms(to: "Limit")
            #expect(try await client.call(.delete, "/admin/v1/limits/\(capID)").status == .notFound)
            #expect(try await client.call(.get, "/admin/v1/limits").strings("limits.*.limit.scope") == ["key"])
        }
    }

    @Test("voiding a grant moves what is left to expired; a second void conflicts, an unknown grant is 404")
    func voidGrant() async throws {
        try await withAdminAPI { client, _ in
            #expect(try await client.call(.post, "/admin/v1/teams", #"{"id": "t"}"#).status == .created)
            let grantID = try #require(try await client.call(.post, "/admin/v1/teams/t/grants", #"{"amount": "40"}"#).string("id"))
            let voided = try await client.call(.post, "/admin/v1/grants/\(grantID)/void", #"{"note": "refund"}"#)
            #expect(voided.status == .ok)
            try voided.expectConforms(to: "VoidedGrant")
            let balance = try await client.call(.get, "/admin/v1/teams/t/balance")
            #expect(balance.string("expired") == "40" && balance.string("available") == "0")
            #expect(balance.string("grants.0.closed_reason") == "voided" && balance.string("grants.0.closed") != nil)
            let ledger = try await client.call(.get, "/admin/v1/teams/t/ledger")
            #expect(ledger.strings("entries.*.kind") == ["grant", "void"] && ledger.string("entries.1.note") == "refund")
            #expect(try await client.call(.post, "/admin/v1/grants/\(grantID)/void").status == .conflict)
            #expect(try await client.call(.post, "/admin/v1/grants/grant_nope/void").status == .notFound)
        }
    }

    @Test("grants in credit units: amount = credits × the unit's value, the units recorded")
    func creditUnits() async throws {
        try await withAdminAPI(creditUnit: (name: "credit", value: Money("0.01")!)) { client, _ in
            #expect(try await client.call(.post, "/admin/v1/teams", #"{"id": "t"}"#).status == .created)
            let grant = try await client.call(.post, "/admin/v1/teams/t/grants", #"{"credits": 5000}"#)
            #expect(grant.status == .created)
            #expect(grant.string("amount") == "50" && grant.string("unit_name") == "credit" && grant.string("unit_amount") == "5000")
            let fraction = try await client.call(.post, "/admin/v1/teams/t/grants", #"{"credits": "2.5"}"#)
            #expect(fraction.string("amount") == "0.025" && fraction.string("unit_amount") == "2.5")
            let both = try await client.call(.post, "/admin/v1/teams/t/grants", #"{"credits": 1, "amount": "1"}"#)
            #expect(both.status == .badRequest && both.string("error.field") == "credits")
        }
        try await withAdminAPI { client, _ in
            #expect(try await client.call(.post, "/admin/v1/teams", #"{"id": "t"}"#).status == .created)
            let unconfigured = try await client.call(.post, "/admin/v1/teams/t/grants", #"{"credits": 5000}"#)
            #expect(unconfigured.status == .badRequest && unconfigured.string("error.field") == "credits")
        }
    }

    // MARK: - Bad input

    /// A request that must be refused, and how.
    struct BadInput: Sendable, CustomTestStringConvertible {
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        let status: HTTPResponse.Status
        let code: String
        let field: String?
        var testDescription: String { "\(method) \(path) \(body ?? "")" }

        init(
            _ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, _ status: HTTPResponse.Status = .badRequest, code: String,
            field: String?
        ) {
            (self.method, self.path, self.body, self.status, self.code, self.field) = (method, path, body, status, code, field)
        }

        static let limit = #""scope": "customer", "scope_id": "acme", "metric": "money", "period": "month""#
    }

    @Test(
        "bad input is refused with the status, code and field that say what is wrong",
        arguments: [
            BadInput(.post, "/admin/v1/customers", #"{"id": "acme2", "nmae": "x"}"#, code: "unknown_field", field: "nmae"),
            BadInput(.post, "/admin/v1/customers", "{}", code: "missing_field", field: "id"),
            BadInput(.post, "/admin/v1/customers", #"{"id": "has space"}"#, code: "invalid_field", field: "id"),
            BadInput(.post, "/admin/v1/customers", #"{"id": 7}"#, code: "invalid_field", field: "id"),
            BadInput(.post, "/admin/v1/customers", #"{"id": "b", "models": "gpt-4o"}"#, code: "invalid_field", field: "models"),
            BadInput(.post, "/admin/v1/customers", "[1]", code: "invalid_json", field: nil),
            BadInput(.post, "/admin/v1/customers", #"{"id": "#, code: "invalid_json", field: nil),
            BadInput(.patch, "/admin/v1/customers/acme", #"{"team": "nope"}"#, .notFound, code: "not_found", field: "team"),
            BadInput(.patch, "/admin/v1/customers/nobody", #"{"name": "x"}"#, .notFound, code: "not_found", field: nil),
            BadInput(.get, "/admin/v1/customers/nobody", nil, .notFound, code: "not_found", field: nil),
            BadInput(.get, "/admin/v1/teams/nobody/balance", nil, .notFound, code: "not_found", field: nil),
            BadInput(.put, "/admin/v1/customers/acme", "{}", .methodNotAllowed, code: "method_not_allowed", field: nil),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"amount": 25}"#, code: "invalid_field", field: "amount"),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"amount": 2.5}"#, code: "invalid_field", field: "amount"),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"amount": "-5"}"#, code: "invalid_field", field: "amount"),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"amount": "ten"}"#, code: "invalid_field", field: "amount"),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"note": "x"}"#, code: "missing_field", field: "amount"),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"amount": "5", "priority": "high"}"#, code: "invalid_field", field: "priority"),
            BadInput(.post, "/admin/v1/teams/t/grants", #"{"amount": "5", "expires": "tomorrow"}"#, code: "invalid_field", field: "expires"),
            BadInput(
                .post, "/admin/v1/teams/t/grants", #"{"amount": "5", "effective": "2030-01-02", "expires": "2030-01-01"}"#, code: "invalid_field",
                field: "expires"),
            BadInput(.post, "/admin/v1/teams/nobody/grants", #"{"amount": "5"}"#, .notFound, code: "not_found", field: nil),
            BadInput(.post, "/admin/v1/limits", "{\(BadInput.limit), \"amount\": \"ten\"}", code: "invalid_field", field: "amount"),
            BadInput(.post, "/admin/v1/limits", "{\(BadInput.limit), \"amount\": 500}", code: "invalid_field", field: "amount"),
            BadInput(.post, "/admin/v1/limits", "{\(BadInput.limit)}", code: "missing_field", field: "amount"),
            BadInput(
                .post, "/admin/v1/limits", "{\(BadInput.limit), \"amount\": \"5\", \"thresholds\": [0]}", code: "invalid_field", field: "thresholds"),
            BadInput(
                .post, "/admin/v1/limits", "{\(BadInput.limit), \"amount\": \"5\", \"enforcement\": \"strict\"}", code: "invalid_field",
                field: "enforcement"),
            BadInput(
                .post, "/admin/v1/limits", "{\(BadInput.limit), \"amount\": \"5\", \"anchor\": \"2026-02-30\"}", code: "invalid_field",
                field: "anchor"),
            BadInput(
                .post, "/admin/v1/limits", #"{"scope": "customer", "scope_id": "acme", "metric": "money", "period": "monthly", "amount": "5"}"#,
                code: "invalid_field", field: "period"),
            BadInput(
                .post, "/admin/v1/limits", #"{"scope": "customer", "scope_id": "acme", "metric": "money", "period": "minute", "amount": "5"}"#,
                code: "invalid_field", field: "period"),
            BadInput(
                .post, "/admin/v1/limits", #"{"scope": "customer", "scope_id": "acme", "metric": "tokens", "period": "day", "amount": "1.5"}"#,
                code: "invalid_field", field: "amount"),
            BadInput(
                .post, "/admin/v1/limits", #"{"scope": "org", "scope_id": "acme", "metric": "money", "period": "day", "amount": "5"}"#,
                code: "invalid_field", field: "scope"),
            BadInput(
                .post, "/admin/v1/limits", #"{"scope": "key", "scope_id": "key_nope", "metric": "requests", "period": "day", "amount": "5"}"#,
                .notFound, code: "not_found", field: "scope_id"),
            BadInput(.post, "/admin/v1/keys", #"{"customer": "nobody"}"#, .notFound, code: "not_found", field: "customer"),
            BadInput(.get, "/admin/v1/keys?custmer=acme", code: "unknown_field", field: "custmer"),
            BadInput(.get, "/admin/v1/alerts?limit=0", code: "invalid_field", field: "limit"),
            BadInput(.get, "/admin/v1/alerts?pending=maybe", code: "invalid_field", field: "pending"),
            BadInput(.get, "/admin/v1/limits?scope=org", code: "invalid_field", field: "scope"),
            BadInput(.get, "/admin/v1/customers/acme/ledger?limit=many", code: "invalid_field", field: "limit"),
        ])
    func badInput(_ input: BadInput) async throws {
        try await withAdminAPI { client, _ in
            #expect(try await client.call(.post, "/admin/v1/teams", #"{"id": "t"}"#).status == .created)
            #expect(try await client.call(.post, "/admin/v1/customers", #"{"id": "acme"}"#).status == .created)
            let reply = try await client.call(input.method, input.path, input.body)
            #expect(reply.status == input.status, "\(reply.text)")
            #expect(reply.string("error.code") == input.code, "\(reply.text)")
            #expect(reply.string("error.field") == input.field, "\(reply.text)")
            if let field = input.field, input.status == .badRequest {
                #expect(reply.string("error.message")?.hasPrefix("\(field): ") == true, "\(reply.text)")
            }
            try reply.expectConforms(to: "Error")
        }
    }

    @Test("a 405 lists the methods the path serves; a body over 1 MiB is refused with 413")
    func methodAndSize() async throws {
        try await withAdminAPI { client, _ in
            let wrongMethod = try await client.call(.delete, "/admin/v1/customers")
            #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.headers[.allow] == "GET, POST")
            let large = "{\"id\": \"acme\", \"name\": \"\(String(repeating: "x", count: AdminAPI.maxBodyBytes))\"}"
            let tooLarge = try await client.call(.post, "/admin/v1/customers", large)
            #expect(tooLarge.status == .contentTooLarge && tooLarge.string("error.code") == "body_too_large")
        }
    }

    @Test("alerts are listed newest first, optionally only the pending ones")
    func alerts() async throws {
        try await withAdminAPI { client, meter in
            let fired: Int64 = 1_767_225_601_500
            try await meter.database.write { db in
                for (id, offset) in [("alr_old", 0), ("alr_new", 1000)] as [(String, Int64)] {
                    _ = try MeterStore.insertAlert(
                        db,
                        AlertRecord(
                            id: id, limitID: "lim_\(id)", periodStartMs: 1_767_225_600_000, threshold: 80, scope: .customer, scopeID: "acme",
                            metric: .money, period: .month, enforcement: .hard, amount: "100", used: "80.25", currency: "USD",
                            periodEndMs: 1_769_904_000_000, firedMs: fired + offset))
                }
            }
            try await meter.markAlertDelivered(id: "alr_old", nowMs: fired + 5000)
            let all = try await client.call(.get, "/admin/v1/alerts")
            try all.expectConforms(to: "AlertList")
            #expect(all.strings("alerts.*.id") == ["alr_new", "alr_old"])
            #expect(all.string("alerts.0.fired") == "2026-01-01T00:00:02.500Z" && all.string("alerts.0.used") == "80.25")
            #expect(try await client.call(.get, "/admin/v1/alerts?pending=true").strings("alerts.*.id") == ["alr_new"])
            #expect(try await client.call(.get, "/admin/v1/alerts?limit=1").strings("alerts.*.id") == ["alr_new"])
        }
    }

    // MARK: - OpenAPI document

    @Test("the OpenAPI document describes exactly the routes served, with their parameters and bodies, and every reference resolves")
    func openAPICoversEveryRoute() async throws {
        let document = try OpenAPI()
        #expect(document.root["openapi"] as? String == "3.1.0")
        #expect(document.value("components.securitySchemes.bearerAuth.scheme") as? String == "bearer")
        for name in ["Customer", "Team", "Key", "Grant", "Balance", "LedgerEntry", "Limit", "LimitStatus", "Alert", "Error"] {
            #expect(document.schema(name) != nil, "components.schemas.\(name)")
        }
        var described: Set<String> = []
        for (path, item) in document.root["paths"] as? [String: [String: Any]] ?? [:] {
            for method in item.keys { described.insert("\(method.uppercased()) \(path)") }
        }
        #expect(described == Set(AdminRoute.all.map { "\($0.method.rawValue) \($0.path)" }))
        #expect(AdminRoute.all.count == described.count, "a route listed twice")

        for route in AdminRoute.all {
            let name = "\(route.method.rawValue) \(route.path)"
            guard let operation = document.operation(route) else { continue }
            let parameters = (operation["parameters"] as? [Any] ?? []).compactMap { document.resolve($0) as? [String: Any] }
            let query = parameters.filter { $0["in"] as? String == "query" }.compactMap { $0["name"] as? String }
            #expect(Set(query) == Set(route.queryParameters), "\(name): query parameters")
            let pathParameters = parameters.filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String }
            #expect(pathParameters == (route.path.contains("{id}") ? ["id"] : []), "\(name): path parameters")
            if route.bodyFields.isEmpty {
                #expect(operation["requestBody"] == nil, "\(name): no body")
            } else {
                let schema = document.resolve(document.value("requestBody.content.application/json.schema", in: operation)) as? [String: Any]
                #expect(Set((schema?["properties"] as? [String: Any] ?? [:]).keys) == Set(route.bodyFields), "\(name): body fields")
                #expect(schema?["additionalProperties"] as? Bool == false, "\(name): unknown fields refused")
            }
            #expect((operation["security"] as? [Any])?.isEmpty != true || !route.requiresToken, "\(name): security")
            #expect((operation["security"] as? [Any])?.isEmpty == true || route.requiresToken, "\(name): security")
        }
        #expect(document.unresolvedReferences().isEmpty, "\(document.unresolvedReferences())")

        try await withAdminAPI { client, _ in
            let served = try await client.call(.get, "/admin/openapi.json")
            #expect(served.status == .ok && served.headers[.contentType] == "application/json")
            #expect(served.string("openapi") == "3.1.0")
        }
    }

    // MARK: - Helpers

    /// An event of `customer` now, at `price`.
    static func event(customer: String, price: String) -> UsageEvent {
        UsageEvent(
            id: "evt_\(UUID().uuidString)", timestampMs: Int64(Date().timeIntervalSince1970 * 1000), customer: customer, keyID: "key_test",
            provider: "openai", route: APIName.openAIChat.rawValue, path: "/v1/chat/completions", model: "gpt-4o-mini", servedModel: nil,
            status: 200, stream: false, usage: TokenUsage(inputTokens: 10, outputTokens: 2), latencyMs: 12.5, ttfbMs: nil, upstreamMs: nil,
            cost: Money(raw: 1), price: Money(price)!, currency: "USD", estimated: false, priced: true)
    }
}

// MARK: - Test support

/// Runs `test` with a client of an admin API over a meter on a new file in a temporary folder, removed afterwards.
private func withAdminAPI(
    creditUnit: (name: String, value: Money)? = nil, _ test: @escaping @Sendable (AdminClient, MeterStore) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-admin-tests-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
    let api = AdminAPI(meter: meter, token: AdminAPITests.token, currency: "USD", creditUnit: creditUnit, logger: Logger(label: "admin-tests"))
    try await Application(responder: api.responder()).test(.router) { client in
        try await test(AdminClient(client: client), meter)
    }
}

/// Sends admin requests with the token (unless told otherwise) and reads the JSON answers.
private struct AdminClient: Sendable {
    let client: any TestClientProtocol

    func call(
        _ method: HTTPRequest.Method, _ uri: String, _ json: String? = nil, token: String? = AdminAPITests.token, headers: HTTPFields = [:]
    ) async throws -> AdminReply {
        var fields = headers
        if let token, fields[.authorization] == nil { fields[.authorization] = "Bearer \(token)" }
        if json != nil { fields[.contentType] = "application/json" }
        let response = try await client.executeRequest(uri: uri, method: method, headers: fields, body: json.map { ByteBuffer(string: $0) })
        return AdminReply(status: response.status, headers: response.headers, data: Data(response.body.readableBytesView))
    }
}

/// An answer: its status, headers and JSON, read by dotted paths (`balance.grants.0.id`; `*` maps over an array).
private struct AdminReply {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let data: Data

    var text: String { String(decoding: data, as: UTF8.self) }
    var json: Any? { try? JSONSerialization.jsonObject(with: data) }

    func value(_ path: String) -> Any? { lookUp(path.split(separator: ".").map(String.init), in: json) }
    func string(_ path: String) -> String? { value(path) as? String }
    func int(_ path: String) -> Int? { value(path) as? Int }
    func strings(_ path: String) -> [String]? { (value(path) as? [Any])?.compactMap { $0 as? String } }
    func ints(_ path: String) -> [Int]? { (value(path) as? [Any])?.compactMap { $0 as? Int } }

    /// Expects the body to match the OpenAPI document's schema `name` (its members, required ones, kinds, formats).
    func expectConforms(to name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let document = try OpenAPI()
        let problems = document.violations(of: json as Any, against: ["$ref": "#/components/schemas/\(name)"], at: name)
        #expect(problems.isEmpty, "\(problems) in \(text)", sourceLocation: sourceLocation)
    }
}

private func lookUp(_ keys: [String], in value: Any?) -> Any? {
    guard let key = keys.first else { return value }
    let rest = Array(keys.dropFirst())
    if let array = value as? [Any] {
        if key == "*" { return array.map { lookUp(rest, in: $0) as Any } }
        guard let index = Int(key), array.indices.contains(index) else { return nil }
        return lookUp(rest, in: array[index])
    }
    return lookUp(rest, in: (value as? [String: Any])?[key])
}

/// The admin OpenAPI document, parsed, with what the tests ask of it.
private struct OpenAPI {
    let root: [String: Any]

    init() throws {
        root = try #require(JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    func value(_ path: String, in object: Any? = nil) -> Any? {
        var keys: [String] = []
        // Media types hold a slash, never a dot: split on dots only.
        for key in path.split(separator: ".") { keys.append(String(key)) }
        return lookUp(keys, in: object ?? root)
    }

    func schema(_ name: String) -> [String: Any]? { value("components.schemas.\(name)") as? [String: Any] }

    func operation(_ route: AdminRoute) -> [String: Any]? {
        ((root["paths"] as? [String: Any])?[route.path] as? [String: Any])?[route.method.rawValue.lowercased()] as? [String: Any]
    }

    /// The object a `$ref` points to (or the object itself).
    func resolve(_ node: Any?) -> Any? {
        guard let object = node as? [String: Any], let reference = object["$ref"] as? String else { return node }
        guard reference.hasPrefix("#/") else { return nil }
        return lookUp(reference.dropFirst(2).split(separator: "/").map(String.init), in: root)
    }

    func unresolvedReferences() -> [String] {
        var missing: [String] = []
        func walk(_ node: Any) {
            if let object = node as? [String: Any] {
                if let reference = object["$ref"] as? String, resolve(object) == nil { missing.append(reference) }
                object.values.forEach(walk)
            } else if let array = node as? [Any] {
                array.forEach(walk)
            }
        }
        walk(root)
        return missing
    }

    /// What in `value` does not match `schema`: unknown or missing members, wrong kinds, times that do not parse,
    /// decimals that are not exact decimal strings.
    func violations(of value: Any, against schema: [String: Any], at path: String) -> [String] {
        guard let schema = resolve(schema) as? [String: Any] else { return ["\(path): unresolved schema"] }
        if let parts = schema["allOf"] as? [Any] {
            var merged: [String: Any] = ["type": "object", "properties": [String: Any](), "required": [String]()]
            for part in parts.compactMap({ resolve($0) as? [String: Any] }) {
                merged["properties"] = (merged["properties"] as! [String: Any]).merging(part["properties"] as? [String: Any] ?? [:]) { $1 }
                merged["required"] = (merged["required"] as! [String]) + (part["required"] as? [String] ?? [])
            }
            return violations(of: value, against: merged, at: path)
        }
        if let options = schema["oneOf"] as? [Any] {
            let fits = options.contains { violations(of: value, against: $0 as? [String: Any] ?? [:], at: path).isEmpty }
            return fits ? [] : ["\(path): matches none of oneOf"]
        }
        if let properties = schema["properties"] as? [String: Any] {
            guard let object = value as? [String: Any] else { return ["\(path): not an object"] }
            var problems = (schema["required"] as? [String] ?? []).filter { object[$0] == nil }.map { "\(path).\($0): missing" }
            for (key, member) in object {
                guard let memberSchema = properties[key] as? [String: Any] else {
                    problems.append("\(path).\(key): not in the schema")
                    continue
                }
                problems += violations(of: member, against: memberSchema, at: "\(path).\(key)")
            }
            return problems
        }
        if let items = schema["items"] as? [String: Any] {
            guard let array = value as? [Any] else { return ["\(path): not an array"] }
            return array.enumerated().flatMap { violations(of: $1, against: items, at: "\(path).\($0)") }
        }
        switch schema["type"] as? String {
        case "string":
            guard let text = value as? String else { return ["\(path): not a string"] }
            if schema["format"] as? String == "date-time", Timestamps.parse(text) == nil { return ["\(path): not an ISO 8601 time"] }
            if schema["pattern"] != nil, Money(text) == nil { return ["\(path): not a decimal string"] }
            if let allowed = schema["enum"] as? [String], !allowed.contains(text) { return ["\(path): \(text) not in \(allowed)"] }
            return []
        case "integer": return value is Int ? [] : ["\(path): not an integer"]
        case "boolean": return value is Bool ? [] : ["\(path): not a boolean"]
        default: return []
        }
    }
}
