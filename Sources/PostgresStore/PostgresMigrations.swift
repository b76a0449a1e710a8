import Logging
import PostgresNIO

/// The PostgreSQL schema's history, applied in order and recorded in `schema_migrations`.
/// A shipped migration is never edited: a change is a new one.
///
/// Each migration runs in a transaction of its own that first takes one advisory lock
/// (`pg_advisory_xact_lock`), so two hosts starting at once apply it once: the second
/// waits, then finds it recorded.
///
/// The schema mirrors the SQLite one in what the engine needs. Times are `bigint` Unix
/// seconds, as on SQLite: the contract is kept in whole seconds, the claim compares
/// `next_attempt_at` with a bound integer, and a later copy between the two stores moves
/// rows as they are. The send budget alone keeps fractions (`double precision`), as
/// `SendBudget` computes them. Addresses on the suppression lists are kept lower-cased and
/// compared with `lower(email)`.
enum PostgresMigrations {
    struct Migration: Sendable {
        var version: Int
        var name: String
        /// One statement each: the extended query protocol runs one at a time.
        var statements: [String]
    }

    /// The advisory lock's key (classid, objid): "salvo", "migrate".
    static let lockKey: (Int32, Int32) = (0x5341_4C56, 1)

    static let all: [Migration] = [
        Migration(version: 1, name: "lists, recipients, campaigns, deliveries, attempts, suppression, senders, limits", statements: [
            """
            CREATE TABLE lists (
                id bigserial PRIMARY KEY,
                name text NOT NULL UNIQUE,
                created_at bigint NOT NULL
            )
            """,
            // `attributes`: the recipient's values by the list's column names.
            """
            CREATE TABLE recipients (
                id bigserial PRIMARY KEY,
                list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                email text NOT NULL,
                domain text NOT NULL,
                attributes jsonb NOT NULL DEFAULT '{}',
                created_at bigint NOT NULL,
                UNIQUE (list_id, email)
            )
            """,
            // state: draft | scheduled | running | paused | finished | cancelled.
            // `settings`: dropped by v2, which keeps the definition as SQLite does.
            """
            CREATE TABLE campaigns (
                id bigserial PRIMARY KEY,
                name text NOT NULL UNIQUE,
                list_id bigint NOT NULL REFERENCES lists(id),
                state text NOT NULL DEFAULT 'draft',
                state_reason text,
                settings jsonb NOT NULL DEFAULT '{}',
                created_at bigint NOT NULL,
                started_at bigint,
                finished_at bigint
            )
            """,
            """
            CREATE TABLE deliveries (
                id bigserial PRIMARY KEY,
                campaign_id bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
                recipient_id bigint NOT NULL REFERENCES recipients(id),
                email text NOT NULL,
                domain text NOT NULL,
                state text NOT NULL DEFAULT 'pending',
                attempts bigint NOT NULL DEFAULT 0,
                next_attempt_at bigint NOT NULL DEFAULT 0,
                last_code bigint,
                last_enhanced_code text,
                last_response text,
                mx_host text,
                message_id text,
                first_attempt_at bigint,
                last_attempt_at bigint,
                claimed_by text,
                claimed_at bigint,
                tls_version text,
                tls_verified boolean,
                suppressed_by text,
                UNIQUE (campaign_id, recipient_id)
            )
            """,
            // The claim: due deliveries of a campaign by state and time, oldest first.
            "CREATE INDEX deliveries_due ON deliveries (campaign_id, state, next_attempt_at, id)",
            // Held deliveries (the quota's in-flight count, sign-off, recovery).
            "CREATE INDEX deliveries_by_owner ON deliveries (claimed_by, state) WHERE claimed_by IS NOT NULL",
            "CREATE INDEX deliveries_by_message_id ON deliveries (message_id) WHERE message_id IS NOT NULL",
            """
            CREATE TABLE attempts (
                id bigserial PRIMARY KEY,
                delivery_id bigint NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                attempted_at bigint NOT NULL,
                outcome text NOT NULL,
                code bigint,
                enhanced_code text,
                response text,
                mx_host text,
                tls_version text,
                tls_verified boolean,
                source_address text
            )
            """,
            "CREATE INDEX attempts_by_delivery ON attempts (delivery_id)",
            // The global list (addresses lower-cased): no campaign mails these.
            """
            CREATE TABLE suppressions (
                email text PRIMARY KEY,
                reason text NOT NULL,
                detail text,
                created_at bigint NOT NULL
            )
            """,
            // Addresses (lower-cased) that asked one list's mail to stop.
            """
            CREATE TABLE list_suppressions (
                list_id bigint NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                email text NOT NULL,
                reason text NOT NULL,
                detail text,
                created_at bigint NOT NULL,
                PRIMARY KEY (list_id, email)
            )
            """,
            // One row per running engine, on any host.
            """
            CREATE TABLE senders (
                owner text PRIMARY KEY,
                host text NOT NULL,
                process text NOT NULL,
                started_at bigint NOT NULL,
                heartbeat_at bigint NOT NULL
            )
            """,
            // Messages handed to servers per UTC day ("2026-12-01").
            """
            CREATE TABLE quota_days (
                day text PRIMARY KEY,
                used bigint NOT NULL DEFAULT 0
            )
            """,
            // `SendBudget` per limit key; (0, 0) is a key never used.
            """
            CREATE TABLE shared_budgets (
                key text PRIMARY KEY,
                due double precision NOT NULL,
                interval double precision NOT NULL
            )
            """,
            """
            CREATE TABLE shared_leases (
                key text NOT NULL,
                owner text NOT NULL,
                count bigint NOT NULL,
                PRIMARY KEY (key, owner)
            )
            """,
            "CREATE INDEX shared_leases_by_owner ON shared_leases (owner)",
        ]),
        // Everything else the SQLite store holds, so a database copied either way keeps it
        // all (`salvo db copy`), with the SQLite names and meanings.
        Migration(version: 2, name: "what the SQLite store holds besides the engine's tables", statements: [
            // Every attribute name ever imported, in import order (the CSV export's columns).
            "ALTER TABLE lists ADD COLUMN columns jsonb NOT NULL DEFAULT '[]'",
            // A list deleted after campaigns used it stays, out of `salvo lists`.
            "ALTER TABLE lists ADD COLUMN deleted_at bigint",
            "ALTER TABLE lists ADD COLUMN name_before_deletion text",
            "ALTER TABLE recipients ADD COLUMN updated_at bigint NOT NULL DEFAULT 0",
            // `RecipientKey`: one recipient per list and address ignoring case; NULL for a
            // merged later spelling that deliveries still refer to.
            "ALTER TABLE recipients ADD COLUMN address_key text",
            "CREATE UNIQUE INDEX recipients_by_address ON recipients (list_id, address_key)",
            "CREATE INDEX recipients_by_address_key ON recipients (address_key)",
            // The campaign as `salvo campaign create` validated it: its segment as written
            // (NULL for the whole list), the JSON of its definition, the file it came from.
            "ALTER TABLE campaigns DROP COLUMN settings",
            "ALTER TABLE campaigns ADD COLUMN segment text",
            "ALTER TABLE campaigns ADD COLUMN definition text NOT NULL DEFAULT '{}'",
            "ALTER TABLE campaigns ADD COLUMN source_path text NOT NULL DEFAULT ''",
            "ALTER TABLE campaigns ADD COLUMN scheduled_at bigint",
            "ALTER TABLE campaigns ADD COLUMN archived_at bigint",
            "CREATE INDEX deliveries_by_domain ON deliveries (campaign_id, domain)",
            // Each message `salvo bounces import` read, by the SHA-256 of its bytes.
            """
            CREATE TABLE bounce_messages (
                sha256 text PRIMARY KEY,
                place text NOT NULL,
                kind text NOT NULL,
                reporter text,
                processed_at bigint NOT NULL
            )
            """,
            // What a report said about each recipient, and the delivery it matched.
            """
            CREATE TABLE bounce_events (
                id bigserial PRIMARY KEY,
                message_sha256 text NOT NULL REFERENCES bounce_messages(sha256) ON DELETE CASCADE,
                delivery_id bigint REFERENCES deliveries(id) ON DELETE SET NULL,
                email text NOT NULL,
                kind text NOT NULL,
                status text,
                diagnostic text,
                remote_mta text,
                matched_by text,
                created_at bigint NOT NULL
            )
            """,
            "CREATE INDEX bounce_events_by_delivery ON bounce_events (delivery_id) WHERE delivery_id IS NOT NULL",
            // Mail Salvo writes to a campaign's sender on its own (failure summary, quota).
            """
            CREATE TABLE notices (
                id bigserial PRIMARY KEY,
                key text NOT NULL UNIQUE,
                kind text NOT NULL,
                campaign_id bigint REFERENCES campaigns(id) ON DELETE CASCADE,
                detail text NOT NULL DEFAULT '{}',
                state text NOT NULL DEFAULT 'pending',
                mail_from text,
                rcpt_to text,
                message_id text,
                message bytea,
                attempts bigint NOT NULL DEFAULT 0,
                last_error text,
                claimed_by text,
                claimed_at bigint,
                created_at bigint NOT NULL,
                sent_at bigint
            )
            """,
            "CREATE INDEX notices_open ON notices (state) WHERE state IN ('pending', 'sending')",
            // `salvo send CAMPAIGN --test-to SEED`, kept apart from the deliveries.
            """
            CREATE TABLE test_sends (
                id bigserial PRIMARY KEY,
                campaign_id bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
                recipient text NOT NULL,
                seed text NOT NULL,
                message_id text,
                outcome text NOT NULL,
                reply text,
                sent_at bigint NOT NULL
            )
            """,
            "CREATE INDEX test_sends_by_campaign ON test_sends (campaign_id)",
            // One row per address (lower-cased) per campaign it unsubscribed from.
            """
            CREATE TABLE unsubscribes (
                id bigserial PRIMARY KEY,
                email text NOT NULL,
                campaign text NOT NULL,
                channel text NOT NULL,
                at bigint NOT NULL,
                undone_at bigint,
                UNIQUE (email, campaign)
            )
            """,
            "CREATE INDEX unsubscribes_by_campaign ON unsubscribes (campaign)",
            // Opens and clicks; `machine`: the request looked like a scanner or a proxy.
            """
            CREATE TABLE tracking_events (
                id bigserial PRIMARY KEY,
                delivery_id bigint NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                kind text NOT NULL,
                link_position bigint,
                link_target text,
                at bigint NOT NULL,
                machine boolean NOT NULL DEFAULT false,
                machine_reason text
            )
            """,
            "CREATE INDEX tracking_events_by_delivery ON tracking_events (delivery_id, kind, machine, at)",
        ]),
    ]

    /// Applies what `schema_migrations` does not list yet; returns the versions applied.
    @discardableResult
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        var applied: [Int] = []
        for migration in all {
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey.0), \(lockKey.1))", logger: logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version bigint PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                let done = try await connection.query(
                    "SELECT count(*) FROM schema_migrations WHERE version = \(migration.version)", logger: logger)
                    .decode(Int64.self).collected().first ?? 0
                if done == 0 {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                        logger: logger)
                    applied.append(migration.version)
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        return applied
    }
}
