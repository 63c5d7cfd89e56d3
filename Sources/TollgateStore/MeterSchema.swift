/// The meter's schema, as a list of migrations from the first version on: a meter written by any earlier
/// Tollgate opens in a later one. Never edit a shipped migration; add the next one.
enum MeterSchema {
    static let migrations: [MeterMigration] = [
        MeterMigration("v1: customers, keys, events") { db in
            try db.executeSchema(
                """
                CREATE TABLE customers (
                    id TEXT PRIMARY KEY,
                    name TEXT,
                    created_ms INTEGER NOT NULL
                );
                CREATE TABLE virtual_keys (
                    id TEXT PRIMARY KEY,
                    customer_id TEXT NOT NULL REFERENCES customers(id),
                    key_hash TEXT NOT NULL UNIQUE,
                    prefix TEXT NOT NULL,
                    name TEXT,
                    created_ms INTEGER NOT NULL,
                    revoked_ms INTEGER
                );
                CREATE TABLE events (
                    id TEXT PRIMARY KEY,
                    ts_ms INTEGER NOT NULL,
                    customer_id TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    feature TEXT,
                    end_user TEXT,
                    project TEXT,
                    provider TEXT NOT NULL,
                    route TEXT NOT NULL,
                    path TEXT NOT NULL,
                    model TEXT,
                    served_model TEXT,
                    status INTEGER NOT NULL,
                    stream INTEGER NOT NULL,
                    input_tokens INTEGER NOT NULL,
                    cache_read_tokens INTEGER NOT NULL,
                    cache_write_tokens INTEGER NOT NULL,
                    cache_write_1h_tokens INTEGER NOT NULL,
                    output_tokens INTEGER NOT NULL,
                    reasoning_tokens INTEGER NOT NULL,
                    input_audio_tokens INTEGER NOT NULL,
                    output_audio_tokens INTEGER NOT NULL,
                    raw_usage TEXT,
                    service_tier TEXT,
                    latency_ms REAL NOT NULL,
                    ttfb_ms REAL,
                    upstream_ms REAL,
                    cost TEXT NOT NULL,
                    price TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    estimated INTEGER NOT NULL,
                    priced INTEGER NOT NULL,
                    note TEXT,
                    idempotency_key TEXT
                );
                CREATE INDEX events_by_time ON events(ts_ms);
                CREATE INDEX events_by_customer ON events(customer_id, ts_ms);
                """)
        },
        MeterMigration("v2: image tokens, server-tool requests, price book") { db in
            try db.executeSchema(
                """
                ALTER TABLE events ADD COLUMN input_image_tokens INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN output_image_tokens INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN web_fetch_requests INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN price_book TEXT;
                ALTER TABLE events ADD COLUMN price_currency TEXT;
                """)
        },
        MeterMigration("v3: teams, credits ledger, reservations, limits, alerts") { db in
            try db.executeSchema(
                """
                ALTER TABLE customers ADD COLUMN team_id TEXT;
                ALTER TABLE customers ADD COLUMN models TEXT;
                CREATE TABLE teams (
                    id TEXT PRIMARY KEY,
                    name TEXT,
                    created_ms INTEGER NOT NULL
                );
                CREATE TABLE credit_grants (
                    id TEXT PRIMARY KEY,
                    account TEXT NOT NULL,
                    amount TEXT NOT NULL,
                    remaining TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    unit_name TEXT,
                    unit_amount TEXT,
                    priority INTEGER NOT NULL,
                    effective_ms INTEGER NOT NULL,
                    expires_ms INTEGER,
                    created_ms INTEGER NOT NULL,
                    note TEXT,
                    closed_ms INTEGER,
                    closed_reason TEXT
                );
                CREATE INDEX credit_grants_by_account ON credit_grants(account);
                CREATE TABLE credit_accounts (
                    id TEXT PRIMARY KEY,
                    overdraft TEXT NOT NULL DEFAULT '0',
                    reserved TEXT NOT NULL DEFAULT '0'
                );
                CREATE TABLE ledger (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    ts_ms INTEGER NOT NULL,
                    account TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    amount TEXT NOT NULL,
                    grant_id TEXT,
                    reservation_id TEXT,
                    event_id TEXT,
                    customer_id TEXT,
                    key_id TEXT,
                    note TEXT
                );
                CREATE INDEX ledger_by_account ON ledger(account, seq);
                CREATE TABLE reservations (
                    id TEXT PRIMARY KEY,
                    account TEXT,
                    customer_id TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    amount TEXT NOT NULL,
                    tokens INTEGER NOT NULL,
                    limits TEXT NOT NULL,
                    instance TEXT NOT NULL,
                    created_ms INTEGER NOT NULL
                );
                CREATE INDEX reservations_by_instance ON reservations(instance);
                CREATE TABLE limits (
                    id TEXT PRIMARY KEY,
                    scope TEXT NOT NULL,
                    scope_id TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    period TEXT NOT NULL,
                    anchor_ms INTEGER,
                    amount TEXT NOT NULL,
                    enforcement TEXT NOT NULL,
                    thresholds TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    note TEXT
                );
                CREATE INDEX limits_by_scope ON limits(scope, scope_id);
                CREATE TABLE limit_usage (
                    limit_id TEXT NOT NULL,
                    period_start_ms INTEGER NOT NULL,
                    used TEXT NOT NULL,
                    reserved TEXT NOT NULL,
                    PRIMARY KEY (limit_id, period_start_ms)
                );
                CREATE TABLE alerts (
                    id TEXT PRIMARY KEY,
                    limit_id TEXT NOT NULL,
                    period_start_ms INTEGER NOT NULL,
                    threshold INTEGER NOT NULL,
                    scope TEXT NOT NULL,
                    scope_id TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    period TEXT NOT NULL,
                    enforcement TEXT NOT NULL,
                    amount TEXT NOT NULL,
                    used TEXT NOT NULL,
                    currency TEXT,
                    period_end_ms INTEGER,
                    fired_ms INTEGER NOT NULL,
                    delivered_ms INTEGER,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT,
                    UNIQUE (limit_id, period_start_ms, threshold)
                );
                CREATE INDEX alerts_pending ON alerts(delivered_ms, next_attempt_ms);
                CREATE TABLE instances (
                    id TEXT PRIMARY KEY,
                    host TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    started_ms INTEGER NOT NULL,
                    heartbeat_ms INTEGER NOT NULL
                );
                """)
        },
        MeterMigration("v4: usage rollups for reports, the provider's request id") { db in
            try db.executeSchema("ALTER TABLE events ADD COLUMN request_id TEXT")
            try db.executeSchema(Rollups.createSQL)
            try Rollups.rebuild(db)
        },
        MeterMigration("v5: billing export outbox, customers' ids in billing systems") { db in
            try db.executeSchema(ExportCoding.createSQL)
        },
        MeterMigration("v6: provider objects owned by customers") { db in
            try db.executeSchema(
                """
                CREATE TABLE objects (
                    provider TEXT NOT NULL,
                    id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    customer_id TEXT NOT NULL,
                    key_id TEXT,
                    parent_id TEXT,
                    created_ms INTEGER NOT NULL,
                    state TEXT,
                    reservation_id TEXT,
                    PRIMARY KEY (provider, id)
                );
                CREATE INDEX objects_by_owner ON objects(customer_id, provider, kind, created_ms);
                """)
        },
        MeterMigration("v7: media usage: images, audio seconds, input characters") { db in
            try db.executeSchema(
                """
                ALTER TABLE events ADD COLUMN images INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN image_variant TEXT;
                ALTER TABLE events ADD COLUMN audio_seconds INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE events ADD COLUMN input_characters INTEGER NOT NULL DEFAULT 0;
                """)
        },
        MeterMigration("v8: idempotent retries: stored responses by customer and key, replay events") { db in
            try db.executeSchema(
                """
                ALTER TABLE events ADD COLUMN replay_of TEXT;
                CREATE TABLE idempotency_keys (
                    customer_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
                    event_id TEXT NOT NULL,
                    instance TEXT,
                    created_ms INTEGER NOT NULL,
                    expires_ms INTEGER NOT NULL,
                    status INTEGER,
                    headers TEXT,
                    body BLOB,
                    body_bytes INTEGER,
                    PRIMARY KEY (customer_id, key)
                );
                CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_ms);
                """)
        },
        MeterMigration("v9: dashboard sessions revoked by logout") { db in
            try db.executeSchema(MeterStore.dashboardSessionsSQL)
        },
        MeterMigration("v10: customers' own billing cycles") { db in
            try db.executeSchema("ALTER TABLE customers ADD COLUMN billing_cycle TEXT")
        },
        MeterMigration("v11: export staged per customer and billing period") { db in
            try db.executeSchema(MeterStore.exportFingerprintsSQL)
        },
        MeterMigration("v12: credit true-ups at the close of billing periods") { db in
            try db.executeSchema("ALTER TABLE ledger ADD COLUMN period TEXT")
            try db.executeSchema(MeterStore.trueUpsSQL)
        },
        MeterMigration("v13: limits customers set for themselves") { db in
            try db.executeSchema("ALTER TABLE limits ADD COLUMN set_by TEXT")
        },
        MeterMigration("v14: one request at a time admitted on less than its worst case") { db in
            try db.executeSchema("ALTER TABLE reservations ADD COLUMN partial INTEGER NOT NULL DEFAULT 0")
            try db.executeSchema("CREATE INDEX reservations_partial ON reservations(account) WHERE partial = 1")
        },
        MeterMigration("v15: shared by replicas: per-minute limits, leases of fleet-wide duties") { db in
            // Buckets are used on PostgreSQL, where replicas on several hosts share one budget per limit (SQLite keeps
            // them in memory); leases on both.
            try db.executeSchema(
                """
                CREATE TABLE rate_buckets (
                    limit_id TEXT PRIMARY KEY,
                    capacity INTEGER NOT NULL,
                    level INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL
                );
                CREATE TABLE leases (
                    name TEXT PRIMARY KEY,
                    holder TEXT NOT NULL,
                    expires_ms INTEGER NOT NULL
                );
                """)
        },
        MeterMigration("v16: events partitioned by month on PostgreSQL, old months pruned") { db in
            // SQLite keeps one events table (a month is an index range of it).
            if db.dialect == .postgres { try EventPartitions.partition(db) }
            try db.executeSchema(
                """
                CREATE TABLE event_prunes (
                    before_ms INTEGER PRIMARY KEY,
                    events INTEGER NOT NULL,
                    pruned_ms INTEGER NOT NULL
                );
                """)
        },
        MeterMigration("v17: events landed by a strict commit alone, filed right after (SQLite)") { db in
            // See ``EventLanding``: the columns and constraints of `events` (a later column of `events` is added here
            // too), no index but the id. PostgreSQL never lands events (its commits are a round trip either way).
            guard db.dialect == .sqlite else { return }
            try db.executeSchema(
                """
                CREATE TABLE events_landing (
                    id TEXT PRIMARY KEY,
                    ts_ms INTEGER NOT NULL,
                    customer_id TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    feature TEXT,
                    end_user TEXT,
                    project TEXT,
                    provider TEXT NOT NULL,
                    route TEXT NOT NULL,
                    path TEXT NOT NULL,
                    model TEXT,
                    served_model TEXT,
                    status INTEGER NOT NULL,
                    stream INTEGER NOT NULL,
                    input_tokens INTEGER NOT NULL,
                    cache_read_tokens INTEGER NOT NULL,
                    cache_write_tokens INTEGER NOT NULL,
                    cache_write_1h_tokens INTEGER NOT NULL,
                    output_tokens INTEGER NOT NULL,
                    reasoning_tokens INTEGER NOT NULL,
                    input_audio_tokens INTEGER NOT NULL,
                    output_audio_tokens INTEGER NOT NULL,
                    raw_usage TEXT,
                    service_tier TEXT,
                    latency_ms REAL NOT NULL,
                    ttfb_ms REAL,
                    upstream_ms REAL,
                    cost TEXT NOT NULL,
                    price TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    estimated INTEGER NOT NULL,
                    priced INTEGER NOT NULL,
                    note TEXT,
                    idempotency_key TEXT,
                    input_image_tokens INTEGER NOT NULL DEFAULT 0,
                    output_image_tokens INTEGER NOT NULL DEFAULT 0,
                    web_search_requests INTEGER NOT NULL DEFAULT 0,
                    web_fetch_requests INTEGER NOT NULL DEFAULT 0,
                    price_book TEXT,
                    price_currency TEXT,
                    request_id TEXT,
                    images INTEGER NOT NULL DEFAULT 0,
                    image_variant TEXT,
                    audio_seconds INTEGER NOT NULL DEFAULT 0,
                    input_characters INTEGER NOT NULL DEFAULT 0,
                    replay_of TEXT
                ) WITHOUT ROWID;
                """)
        },
    ]
}

/// One step of the meter's schema: an identifier recorded once applied, and the change, run in a write transaction.
struct MeterMigration: Sendable {
    let identifier: String
    let migrate: @Sendable (any SQLConnection) throws -> Void

    init(_ identifier: String, migrate: @escaping @Sendable (any SQLConnection) throws -> Void) {
        self.identifier = identifier
        self.migrate = migrate
    }
}
