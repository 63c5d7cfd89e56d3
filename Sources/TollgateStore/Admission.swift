import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TollgateCore

/// What admission needs to know of a request before it goes out: who, which model, and its worst case.
public struct AdmissionRequest: Sendable {
    /// Who asks.
    public var principal: Principal
    /// The model asked for.
    public var model: String?
    /// The request's worst-case price (prompt size and output limit at the customer's rates).
    public var worstCasePrice: Money
    /// Currency of the price.
    public var currency: String
    /// The request's worst-case token count (prompt and output limit).
    public var worstCaseTokens: Int
    /// Now (ms since 1970).
    public var nowMs: Int64

    /// Creates a request.
    public init(principal: Principal, model: String?, worstCasePrice: Money, currency: String, worstCaseTokens: Int, nowMs: Int64) {
        self.principal = principal
        self.model = model
        self.worstCasePrice = worstCasePrice
        self.currency = currency
        self.worstCaseTokens = worstCaseTokens
        self.nowMs = nowMs
    }
}

/// An admitted request's hold: the reservation to settle with its event, and the per-minute token limits to charge.
public struct AdmissionTicket: Sendable, Equatable {
    /// The reservation id (`rsv_…`).
    public var reservationID: String
    /// Tokens-per-minute limits to charge with the actual tokens at the end.
    public var tokenRateLimits: [String]
}

/// One limit's share of a reservation, kept on the reservation so that settlement and release find their period.
struct ReservedLimit: Codable, Equatable {
    var id: String
    var start: Int64
    var held: String
}

/// Admission control: reserves a request's worst case against the credit pool and the hard caps in one SQLite write
/// transaction, so that any number of concurrent requests (and several processes sharing the meter file) can never
/// hold more than the balance; settlement turns the hold into the actual spend in the event's own transaction.
/// Per-minute limits are token buckets: in this process's memory on a SQLite meter (one host), in the meter's
/// `rate_buckets` table on PostgreSQL, so that replicas share one budget per limit.
///
/// Concurrent admissions share transactions (group commit): the first request that finds no transaction running
/// starts one for every request waiting by then, one after the other in the same order as they came, each seeing the
/// holds of those before it; requests that arrive meanwhile wait for the next one. One request alone waits for no one.
/// The transactions run synchronously on the process's admission thread (``thread``), and each request resumes on the
/// event loop it waited on; only a request alone (no other in flight) is decided on its own event loop, when the
/// meter's writer connection is idle (``admit(_:alone:)``).
public final class AdmissionControl: Sendable {
    /// The meter.
    public let meter: MeterStore
    /// This process's id on reservations (`ins_…`), to release the holds of a process that died.
    public let instanceID: String
    private let buckets = Mutex<[String: TokenBucket]>([:])
    /// Whether the buckets live in the meter (shared by every replica) rather than in memory.
    private let sharedBuckets: Bool

    private typealias Decision = Result<Result<AdmissionTicket, Refusal>, MeterError>
    private struct Waiting {
        var request: AdmissionRequest
        var continuation: CheckedContinuation<Decision, Never>
        var loop: (any EventLoop)?
    }
    /// Requests waiting for the next transaction, and whether one is running (its leader takes them in turn).
    private let waiting = Mutex<(requests: [Waiting], leading: Bool)>(([], false))
    /// The most requests decided in one transaction.
    static let maxBatch = 128
    /// The thread admission transactions run on: one for the process (every meter's), started with the first.
    private static let thread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// Creates the admission control of one running server.
    public init(meter: MeterStore) {
        self.meter = meter
        sharedBuckets = meter.dialect == .postgres
        instanceID = "ins_" + MeterStore.randomToken(bytes: 9)
    }

    /// Registers this process and releases the reservations of processes that are gone (a crash, a kill): their
    /// requests will never settle. Returns how many were released.
    @discardableResult
    public func start() async throws(MeterError) -> Int {
        let now = Timestamps.nowMs()
        do {
            try await meter.database.write { [instanceID] db in
                try db.cachedStatement(
                    sql: """
                        INSERT INTO instances (id, host, pid, started_ms, heartbeat_ms) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (id) DO UPDATE SET
                            host = excluded.host, pid = excluded.pid, started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms
                        """
                ).execute(arguments: [instanceID, ProcessInfo.processInfo.hostName, Int(getpid()), now, now])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        return try await releaseOrphans()
    }

    /// Marks this process alive; run every few seconds.
    public func heartbeat() async throws(MeterError) {
        do {
            try await meter.database.write { [instanceID] db in
                try db.cachedStatement(sql: "UPDATE instances SET heartbeat_ms = ? WHERE id = ?").execute(arguments: [Timestamps.nowMs(), instanceID])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Ends this process's registration (clean shutdown).
    public func stop() async {
        try? await meter.database.write { [instanceID] db in
            try db.cachedStatement(sql: "DELETE FROM instances WHERE id = ?").execute(arguments: [instanceID])
        }
    }

    /// Releases the holds of processes that are gone: on this host with a pid that is not running (or that is
    /// this process under another instance id: a restarted container), or silent for `staleAfterMs`.
    @discardableResult
    public func releaseOrphans(staleAfterMs: Int64 = 60_000) async throws(MeterError) -> Int {
        try await meter.releaseOrphanedReservations(keeping: instanceID, staleAfterMs: staleAfterMs)
    }

    /// Admits a request or says why not. Checks, in order: per-minute limits, hard caps, the credit pool; holds the
    /// worst case on each when all pass.
    ///
    /// `alone`: no other request is in flight in this process, so none could share the transaction: the request is
    /// decided on the caller's thread if the meter's writer connection is idle (``decideIfIdle(_:)``).
    public func admit(_ request: AdmissionRequest, alone: Bool = false) async throws(MeterError) -> Result<AdmissionTicket, Refusal> {
        if alone, let decided = decideIfIdle(request) { return try decided.get() }
        let decision = await withCheckedContinuation { (continuation: CheckedContinuation<Decision, Never>) in
            let lead = waiting.withLock { waiting in
                waiting.requests.append(
                    Waiting(request: request, continuation: continuation, loop: MultiThreadedEventLoopGroup.currentEventLoop))
                defer { waiting.leading = true }
                return !waiting.leading
            }
            guard lead else { return }
            Self.thread.submit { _ in self.decideWaiting() }
        }
        return try decision.get()
    }

    /// Decides a request on the caller's thread (an event loop) when no admission is being decided and the meter's
    /// writer connection is idle: with nothing to batch it with, the hop to the admission thread and back costs more
    /// than the transaction. Never waits (see ``MeterDatabase/writeIfIdle(_:)``): `nil` leaves the request to the
    /// admission thread. A transaction that fails is the decision, as on the thread: tried again there, it would take
    /// the per-minute buckets a second time (on SQLite they are in memory, taken inside the transaction).
    private func decideIfIdle(_ request: AdmissionRequest) -> Decision? {
        guard waiting.withLock({ !$0.leading }) else { return nil }
        do {
            return try meter.database.writeIfIdle { db in try decide(request, in: db) }.map { .success($0) }
        } catch {
            return .failure(MeterError.writeFailed("\(error)"))
        }
    }

    /// The leader's loop, on the admission thread: a transaction for the requests waiting, then the next, until none
    /// is left.
    private func decideWaiting() {
        while true {
            let batch: [Waiting] = waiting.withLock { waiting in
                let batch = Array(waiting.requests.prefix(Self.maxBatch))
                waiting.requests.removeFirst(batch.count)
                if batch.isEmpty { waiting.leading = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let decisions: [Decision]
            do {
                // A refusal writes nothing (every check comes before the holds), so requests need no savepoints.
                let outcomes = try meter.database.write { db in
                    try batch.map { try decide($0.request, in: db) }
                }
                decisions = outcomes.map { .success($0) }
            } catch {
                decisions = Array(repeating: .failure(MeterError.writeFailed("\(error)")), count: batch.count)
            }
            LoopResumption.run(
                zip(batch, decisions).map { waiting, decision in
                    LoopResumption(loop: waiting.loop) { waiting.continuation.resume(returning: decision) }
                })
        }
    }

    /// Decides one request in the batch's transaction.
    private func decide(_ request: AdmissionRequest, in db: any SQLConnection) throws -> Result<AdmissionTicket, Refusal> {
        let principal = request.principal
        let limits = try SQLRow.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT * FROM limits WHERE (scope = 'customer' AND scope_id = ?) OR (scope = 'key' AND scope_id = ?)
                        OR (scope = 'team' AND scope_id = ?)
                    """), arguments: [principal.customer, principal.key.id, principal.team]
        ).map(MeterStore.limit)
        // Per-minute limits: checked first, taken only once everything passes.
        let rateLimits = limits.filter(\.isRateLimit)
        var rateBuckets: [(limit: LimitRecord, bucket: TokenBucket)] = []
        for limit in rateLimits {
            let bucket = try self.bucket(limit, nowMs: request.nowMs, in: db)
            rateBuckets.append((limit, bucket))
            var probe = bucket
            if case .refused(let waitMs) = probe.take(1, nowMs: request.nowMs) {
                let seconds = TokenBucket.retryAfterSeconds(waitMs)
                return .failure(
                    Refusal(
                        reason: .rateLimit,
                        message:
                            "Rate limit reached: \(limit.scope.rawValue) \(limit.scopeID) may make \(limit.amount) \(limit.metric == .requests ? "requests" : "tokens") per minute (\(limit.id)). Retry after \(seconds) s.",
                        limitID: limit.id, retryAfterSeconds: seconds))
            }
        }
        // Hard caps: what settled requests used plus what requests in flight hold plus this one's worst case.
        var held: [ReservedLimit] = []
        var pendingUsage: [(LimitRecord, Int64, Int128, Int128, Int128)] = []
        for limit in limits where !limit.isRateLimit {
            let window = limit.period.window(containing: request.nowMs, anchor: limit.anchor)
            let (used, reserved) = try LimitUsage.load(db, limit: limit, periodStartMs: window.startMs, periodEndMs: window.endMs)
            let need: Int128
            switch limit.metric {
            case .money: need = request.worstCasePrice.raw
            case .tokens: need = Int128(request.worstCaseTokens)
            case .requests: need = 1
            }
            if limit.enforcement == .hard, used + reserved + need > limit.quantity {
                return .failure(
                    Self.capRefusal(limit, used: used, reserved: reserved, need: need, currency: request.currency, window: window))
            }
            held.append(ReservedLimit(id: limit.id, start: window.startMs, held: LimitQuantity.format(need, metric: limit.metric)))
            pendingUsage.append((limit, window.startMs, used, reserved, need))
        }
        // Credits: a prepaid account holds the worst case, or, for the last request a balance admits, all that
        // is left (so a small balance stays usable; the overshoot bound is that one request, docs/CREDITS.md).
        let account = principal.creditAccount
        let (prepaid, overdraft, reserved) = try Ledger.standing(db, account: account)
        var hold = request.worstCasePrice
        var partial = false
        var holdNote = request.model.map { "worst case of a \($0) request" }
        if prepaid {
            let (available, currency) = try Ledger.available(
                db, account: account, overdraft: overdraft, reserved: reserved, nowMs: request.nowMs)
            if available <= .zero {
                let unit = currency ?? request.currency
                return .failure(
                    Refusal(
                        reason: .credits,
                        message:
                            "Insufficient credits: the prepaid credit balance of \(account) is exhausted (available \(available) \(unit)); add credit to continue."
                    ))
            }
            if hold > available {
                // One request at a time may hold less than its worst case: a second, admitted while the first is in
                // flight (a release gave a little balance back), could overshoot by its own price too.
                if try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM reservations WHERE account = ? AND partial = 1)"), arguments: [account])
                    == true
                {
                    let unit = currency ?? request.currency
                    return .failure(
                        Refusal(
                            reason: .credits,
                            message:
                                "Insufficient credits: \(account) has \(available) \(unit) available, less than this request's worst "
                                + "case (\(hold) \(unit)), and the last of its balance is held by a request in flight; add credit to continue."
                        ))
                }
                holdNote = "worst case \(hold) capped to the remaining balance: the last request it admits"
                hold = available
                partial = true
            }
        }
        // Everything passes: hold.
        let id = "rsv_" + MeterStore.randomToken(bytes: 9)
        // Most holds are on credits alone: their empty list is written without a JSON encoder.
        let limitsText = held.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(held), as: UTF8.self)
        try db.cachedStatement(
            sql: """
                INSERT INTO reservations (id, account, customer_id, key_id, amount, tokens, limits, instance, created_ms, partial)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            id, prepaid ? account : nil, principal.customer, principal.key.id, hold.description,
            request.worstCaseTokens,
            limitsText, instanceID, request.nowMs, partial ? 1 : 0,
        ])
        for (limit, start, used, reserved, need) in pendingUsage {
            try LimitUsage.store(db, limit: limit, periodStartMs: start, used: used, reserved: reserved + need)
        }
        if prepaid {
            try Ledger.setReserved(db, account: account, reserved + hold)
            try Ledger.append(
                db, account: account, kind: .reserve, amount: hold, reservationID: id, customer: principal.customer,
                keyID: principal.key.id, note: holdNote, nowMs: request.nowMs)
        }
        for (limit, var bucket) in rateBuckets {
            if limit.metric == .requests { _ = bucket.take(1, nowMs: request.nowMs) }
            try save(bucket, limitID: limit.id, in: db)
        }
        return .success(AdmissionTicket(reservationID: id, tokenRateLimits: rateLimits.filter { $0.metric == .tokens }.map(\.id)))
    }

    /// Charges the actual tokens of a finished request to its tokens-per-minute limits (in the meter's transaction of
    /// its own when the buckets are shared; a failure there lets the next requests through a little early, and is
    /// thrown for the caller to log).
    public func chargeTokens(_ ticket: AdmissionTicket, tokens: Int, nowMs: Int64) async throws(MeterError) {
        guard !ticket.tokenRateLimits.isEmpty, tokens > 0 else { return }
        guard sharedBuckets else {
            buckets.withLock { all in
                for id in ticket.tokenRateLimits { all[id]?.charge(tokens, nowMs: nowMs) }
            }
            return
        }
        do {
            try await meter.database.write { [self] db in
                for id in ticket.tokenRateLimits {
                    guard var bucket = try storedBucket(id, in: db) else { continue }
                    bucket.charge(tokens, nowMs: nowMs)
                    try save(bucket, limitID: id, in: db)
                }
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The bucket of a per-minute limit: as kept (in memory or in the meter), or a full one when there is none or
    /// the limit's amount changed.
    private func bucket(_ limit: LimitRecord, nowMs: Int64, in db: any SQLConnection) throws -> TokenBucket {
        let capacity = Int(limit.quantity)
        let kept = sharedBuckets ? try storedBucket(limit.id, in: db) : buckets.withLock { $0[limit.id] }
        return kept.flatMap { $0.capacity == capacity ? $0 : nil } ?? TokenBucket(capacity: capacity, nowMs: nowMs)
    }

    private func storedBucket(_ limitID: String, in db: any SQLConnection) throws -> TokenBucket? {
        try SQLRow.fetchOne(
            db.cachedStatement(sql: "SELECT capacity, level, updated_ms FROM rate_buckets WHERE limit_id = ?"), arguments: [limitID]
        ).map { TokenBucket(capacity: $0["capacity"], scaledLevel: $0["level"], updatedMs: $0["updated_ms"]) }
    }

    private func save(_ bucket: TokenBucket, limitID: String, in db: any SQLConnection) throws {
        guard sharedBuckets else {
            buckets.withLock { $0[limitID] = bucket }
            return
        }
        let (level, updated) = bucket.stored
        try db.cachedStatement(
            sql: """
                INSERT INTO rate_buckets (limit_id, capacity, level, updated_ms) VALUES (?, ?, ?, ?)
                ON CONFLICT (limit_id) DO UPDATE SET capacity = excluded.capacity, level = excluded.level, updated_ms = excluded.updated_ms
                """
        ).execute(arguments: [limitID, bucket.capacity, level, updated])
    }

    private static func capRefusal(
        _ limit: LimitRecord, used: Int128, reserved: Int128, need: Int128, currency: String, window: (startMs: Int64, endMs: Int64?)
    ) -> Refusal {
        let unit = limit.metric == .money ? " \(currency)" : " \(limit.metric.rawValue)"
        let format = { (value: Int128) in LimitQuantity.format(value, metric: limit.metric) + unit }
        var message =
            "Limit reached: \(limit.scope.rawValue) \(limit.scopeID) has a \(limit.period.label) cap of \(format(limit.quantity)) (\(limit.id)); used \(format(used))"
        if reserved > 0 { message += ", \(format(reserved)) held by requests in flight" }
        message += ", this request's worst case is \(format(need))"
        if let end = window.endMs { message += "; it resets at \(Timestamps.iso8601(end))" }
        return Refusal(reason: .cap, message: message + ".", limitID: limit.id, resetsAtMs: window.endMs)
    }
}

extension MeterStore {
    /// The credit reservations held now, by every process on this meter (requests admitted and not yet settled).
    public func reservationsHeld() async throws(MeterError) -> Int {
        do {
            return try await database.read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM reservations")) ?? 0 }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Releases the reservations of instances that are gone (see ``AdmissionControl/releaseOrphans(staleAfterMs:)``).
    func releaseOrphanedReservations(keeping instanceID: String, staleAfterMs: Int64) async throws(MeterError) -> Int {
        let now = Timestamps.nowMs()
        let host = ProcessInfo.processInfo.hostName
        let ownPID = Int(getpid())
        do {
            return try await database.write { db in
                var gone: [String] = []
                let rows = try SQLRow.fetchAll(db.cachedStatement(sql: "SELECT * FROM instances"))
                let known = Set(rows.map { $0["id"] as String })
                for row in rows where row["id"] as String != instanceID {
                    let pid: Int = row["pid"]
                    let sameHost = row["host"] as String == host
                    let dead = sameHost && (pid == ownPID || (kill(pid_t(pid), 0) != 0 && errno == ESRCH))
                    if dead || now - (row["heartbeat_ms"] as Int64) > staleAfterMs { gone.append(row["id"]) }
                }
                // Reservations of instances that left no registration at all are orphans too.
                let orphanInstances = try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT instance FROM reservations")).filter {
                    $0 != instanceID && (!known.contains($0) || gone.contains($0))
                }
                var released = 0
                for instance in orphanInstances {
                    for row in try SQLRow.fetchAll(db.cachedStatement(sql: "SELECT * FROM reservations WHERE instance = ?"), arguments: [instance]) {
                        try Settlement.release(
                            db, reservation: row, note: "released at restart: the process holding it (\(instance)) ended", nowMs: now)
                        released += 1
                    }
                }
                for id in gone { try db.cachedStatement(sql: "DELETE FROM instances WHERE id = ?").execute(arguments: [id]) }
                return released
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }
}

/// Settlement: an event's price becomes the spend of its reservation, in the event's own transaction (so a crash
/// keeps both or neither), and its actual usage replaces the caps' holds; threshold crossings become alerts.
enum Settlement {
    /// Settles `event` against its reservation (if it still exists). Returns the alerts that fired.
    static func settle(_ db: any SQLConnection, event: UsageEvent, reservationID: String, nowMs: Int64) throws -> [AlertRecord] {
        guard let reservation = try SQLRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM reservations WHERE id = ?"), arguments: [reservationID])
        else {
            // Released already (a process taken for dead): the spend still counts.
            if event.price > .zero {
                let account =
                    try String.fetchOne(db.cachedStatement(sql: "SELECT team_id FROM customers WHERE id = ?"), arguments: [event.customer])
                    .map(CreditAccountOwner.team.account) ?? CreditAccountOwner.customer.account(event.customer)
                if try Ledger.isPrepaid(db, account: account) {
                    try Ledger.spend(
                        db, account: account, amount: event.price, eventID: event.id, customer: event.customer, keyID: event.keyID, nowMs: nowMs)
                }
            }
            return []
        }
        if let account: String = reservation["account"] {
            try Ledger.spend(db, account: account, amount: event.price, eventID: event.id, customer: event.customer, keyID: event.keyID, nowMs: nowMs)
        }
        let fired = try applyToLimits(db, reservation: reservation, event: event, nowMs: nowMs)
        try release(db, reservation: reservation, eventID: event.id, note: "settled by \(event.id)", nowMs: nowMs)
        return fired
    }

    /// Drops a reservation: its credit hold goes back to the account (a `release` line) and its caps' holds to the limits.
    static func release(_ db: any SQLConnection, reservation: SQLRow, eventID: String? = nil, note: String, nowMs: Int64) throws {
        let id: String = reservation["id"]
        let amount = Money(reservation["amount"] as String) ?? .zero
        if let account: String = reservation["account"] {
            try Ledger.addReserved(db, account: account, .zero - amount)
            try Ledger.append(
                db, account: account, kind: .release, amount: amount, reservationID: id, eventID: eventID, customer: reservation["customer_id"],
                keyID: reservation["key_id"], note: note, nowMs: nowMs)
        }
        if eventID == nil {
            for share in try heldLimits(reservation) {
                guard
                    let limit = try SQLRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM limits WHERE id = ?"), arguments: [share.id]).map(
                        MeterStore.limit)
                else {
                    continue
                }
                let (used, reserved) = try LimitUsage.load(db, limit: limit, periodStartMs: share.start, periodEndMs: nil)
                let held = LimitQuantity.parse(share.held, metric: limit.metric) ?? 0
                try LimitUsage.store(db, limit: limit, periodStartMs: share.start, used: used, reserved: reserved - held)
            }
        }
        try db.cachedStatement(sql: "DELETE FROM reservations WHERE id = ?").execute(arguments: [id])
    }

    private static func heldLimits(_ reservation: SQLRow) throws -> [ReservedLimit] {
        let text: String = reservation["limits"]
        if text == "[]" { return [] }
        return try JSONDecoder().decode([ReservedLimit].self, from: Data(text.utf8))
    }

    /// Moves each cap's hold to its actual use and fires the thresholds the use crossed.
    private static func applyToLimits(_ db: any SQLConnection, reservation: SQLRow, event: UsageEvent, nowMs: Int64) throws -> [AlertRecord] {
        var fired: [AlertRecord] = []
        for share in try heldLimits(reservation) {
            guard
                let limit = try SQLRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM limits WHERE id = ?"), arguments: [share.id]).map(
                    MeterStore.limit)
            else {
                continue
            }
            let window = limit.period.window(containing: share.start, anchor: limit.anchor)
            let (used, reserved) = try LimitUsage.load(db, limit: limit, periodStartMs: share.start, periodEndMs: window.endMs)
            let actual: Int128
            switch limit.metric {
            case .money: actual = event.price.raw
            case .tokens: actual = Int128(event.usage.totalTokens)
            case .requests: actual = 1
            }
            let held = LimitQuantity.parse(share.held, metric: limit.metric) ?? 0
            try LimitUsage.store(db, limit: limit, periodStartMs: share.start, used: used + actual, reserved: reserved - held)
            for threshold in limit.thresholds {
                // Crossed when the use goes from below threshold% of the amount to at or above it.
                let mark = limit.quantity * Int128(threshold)
                guard used * 100 < mark, (used + actual) * 100 >= mark else { continue }
                let alert = AlertRecord(
                    id: "alr_" + MeterStore.randomToken(bytes: 9), limitID: limit.id, periodStartMs: share.start, threshold: threshold,
                    scope: limit.scope, scopeID: limit.scopeID, metric: limit.metric, period: limit.period, enforcement: limit.enforcement,
                    amount: limit.amount, used: LimitQuantity.format(used + actual, metric: limit.metric),
                    currency: limit.metric == .money ? event.effectivePriceCurrency : nil, periodEndMs: window.endMs, firedMs: nowMs,
                    deliveredMs: nil,
                    attempts: 0, nextAttemptMs: nowMs, lastError: nil)
                if try MeterStore.insertAlert(db, alert) { fired.append(alert) }
            }
        }
        return fired
    }
}
