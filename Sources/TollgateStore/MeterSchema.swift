import GRDB

/// The meter's schema, as a list of migrations from the first version on: a meter written by any earlier
/// Tollgate opens in a later one. Never edit a shipped migration; add the next one.
enum MeterSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: customers, keys, events") { db in
            try db.execute(
                sql: """
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
        }
        migrator.registerMigration("v2: image tokens, server-tool requests, price book") { db in
            try db.execute(
                sql: """
                    ALTER TABLE events ADD COLUMN input_image_tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE events ADD COLUMN output_image_tokens INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE events ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE events ADD COLUMN web_fetch_requests INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE events ADD COLUMN price_book TEXT;
                    ALTER TABLE events ADD COLUMN price_currency TEXT;
                    """)
        }
        return migrator
    }
}
