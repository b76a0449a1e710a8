import GRDB

extension SalvoStore {
    /// The schema's history. A shipped migration is never edited: a change is a new one.
    ///
    /// Times are INTEGER seconds since 1970 (UTC): the sender compares them on every
    /// claim, and reports format them as RFC 3339.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: lists, recipients, campaigns, deliveries, attempts, suppression") { db in
            try db.execute(sql: """
                CREATE TABLE lists (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    columns TEXT NOT NULL DEFAULT '[]',   -- JSON array: every attribute name ever imported
                    created_at INTEGER NOT NULL
                );

                -- One row per address per list. `email` keeps the local part as written and
                -- the domain lower-cased. `attributes` is a JSON array of strings aligned
                -- with the list's `columns` (null where a recipient has no value): keeping
                -- the names out of every row halves what a million-row import writes.
                CREATE TABLE recipients (
                    id INTEGER PRIMARY KEY,
                    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                    email TEXT NOT NULL,
                    attributes TEXT NOT NULL DEFAULT '[]',
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    UNIQUE (list_id, email)
                );

                CREATE TABLE campaigns (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    list_id INTEGER NOT NULL REFERENCES lists(id),
                    segment TEXT,                          -- the expression as written, or NULL for all
                    definition TEXT NOT NULL,              -- JSON of the validated campaign file
                    source_path TEXT NOT NULL,             -- the campaign YAML it came from
                    state TEXT NOT NULL DEFAULT 'draft',   -- draft | scheduled | running | paused | finished | cancelled
                    scheduled_at INTEGER,
                    created_at INTEGER NOT NULL,
                    started_at INTEGER,
                    finished_at INTEGER,
                    state_reason TEXT
                );

                -- One row per recipient per campaign: what the sender claims and updates.
                CREATE TABLE deliveries (
                    id INTEGER PRIMARY KEY,
                    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
                    recipient_id INTEGER NOT NULL REFERENCES recipients(id),
                    email TEXT NOT NULL,
                    domain TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL DEFAULT 0,
                    last_code INTEGER,
                    last_enhanced_code TEXT,
                    last_response TEXT,
                    mx_host TEXT,
                    message_id TEXT,
                    first_attempt_at INTEGER,
                    last_attempt_at INTEGER,
                    UNIQUE (campaign_id, recipient_id)
                );
                -- The sender's claim: due deliveries of a campaign by state and time.
                CREATE INDEX deliveries_due ON deliveries(campaign_id, state, next_attempt_at);
                -- Per-destination work and the status report's top domains.
                CREATE INDEX deliveries_by_domain ON deliveries(campaign_id, domain);
                CREATE INDEX deliveries_by_message_id ON deliveries(message_id) WHERE message_id IS NOT NULL;

                -- One row per SMTP attempt, for the report and for diagnosing a destination.
                CREATE TABLE attempts (
                    id INTEGER PRIMARY KEY,
                    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                    attempted_at INTEGER NOT NULL,
                    outcome TEXT NOT NULL,                 -- sent | deferred | bounced | failed | unknown
                    code INTEGER,
                    enhanced_code TEXT,
                    response TEXT,
                    mx_host TEXT
                );
                CREATE INDEX attempts_by_delivery ON attempts(delivery_id);

                -- One global list: no campaign ever mails these addresses.
                CREATE TABLE suppressions (
                    email TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                    reason TEXT NOT NULL,                  -- manual | hard-bounce | complaint | unsubscribe
                    detail TEXT,
                    created_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2: delivery claims with an owner, sender heartbeats, pending index") { db in
            try db.execute(sql: """
                -- Who holds a claimed or sending delivery, and since when (claimed, then
                -- handed to a connection). Cleared when the delivery leaves those states.
                ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
                ALTER TABLE deliveries ADD COLUMN claimed_at INTEGER;
                CREATE INDEX deliveries_by_owner ON deliveries(claimed_by, state) WHERE claimed_by IS NOT NULL;

                -- One row per running engine: a claim whose owner stopped beating its
                -- heart (or whose process is gone, on this host) is recovered by the next.
                CREATE TABLE senders (
                    owner TEXT NOT NULL PRIMARY KEY,
                    host TEXT NOT NULL,
                    process TEXT NOT NULL,                 -- pid and start time, to tell a reused pid
                    started_at INTEGER NOT NULL,
                    heartbeat_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3: bounce messages") { db in
            try db.execute(sql: """
                -- One row per message read by `salvo bounces import`, keyed by the SHA-256
                -- of its bytes: importing a mailbox again finds every message here and
                -- changes nothing. Malformed messages are not recorded, so a later Salvo
                -- that reads them can still apply them.
                CREATE TABLE bounce_messages (
                    sha256 TEXT NOT NULL PRIMARY KEY,      -- lower-case hex
                    place TEXT NOT NULL,                   -- where it was first read: file and message number
                    kind TEXT NOT NULL,                    -- hard-bounce | soft-bounce | complaint | not-bounce
                    reporter TEXT,                         -- Reporting-MTA, or the feedback report's reporter
                    processed_at INTEGER NOT NULL
                );

                -- What a report said about each recipient, and the delivery it was matched
                -- to (NULL: unmatched). A complaint leaves the delivery `sent`; this row is
                -- where it is noted.
                CREATE TABLE bounce_events (
                    id INTEGER PRIMARY KEY,
                    message_sha256 TEXT NOT NULL REFERENCES bounce_messages(sha256) ON DELETE CASCADE,
                    delivery_id INTEGER REFERENCES deliveries(id) ON DELETE SET NULL,
                    email TEXT NOT NULL,
                    kind TEXT NOT NULL,                    -- hard-bounce | soft-bounce | delayed | delivered | complaint | feedback
                    status TEXT,                           -- the DSN's Status, or the Feedback-Type
                    diagnostic TEXT,                       -- the DSN's Diagnostic-Code
                    remote_mta TEXT,
                    matched_by TEXT,                       -- verp | message-id | recipient, NULL when unmatched
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX bounce_events_by_delivery ON bounce_events(delivery_id) WHERE delivery_id IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4: notices and daily quota") { db in
            try db.execute(sql: """
                -- Mail Salvo writes to a campaign's sender on its own: a failure summary
                -- when a campaign finishes, the daily quota at 80% and 100%. `key` makes
                -- each one exist once (failure-summary:CAMPAIGN_ID, quota-80:DAY, …).
                -- The message is rendered once, before its first attempt, so a retry sends
                -- the same bytes (and Message-ID).
                CREATE TABLE notices (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,                    -- failure-summary | quota-80 | quota-100
                    campaign_id INTEGER REFERENCES campaigns(id) ON DELETE CASCADE,
                    detail TEXT NOT NULL DEFAULT '{}',     -- JSON facts for rendering (quota: day, used, per_day)
                    state TEXT NOT NULL DEFAULT 'pending', -- pending | sending | sent | failed
                    mail_from TEXT,
                    rcpt_to TEXT,
                    message_id TEXT,
                    message BLOB,                          -- headers and body, CRLF; NULL until rendered
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT,
                    claimed_by TEXT,
                    claimed_at INTEGER,
                    created_at INTEGER NOT NULL,
                    sent_at INTEGER
                );
                CREATE INDEX notices_open ON notices(state) WHERE state IN ('pending', 'sending');

                -- What was handed to servers per UTC day ("2026-12-01"), counted in the
                -- transaction that records the outcomes: the daily quota reads one row.
                CREATE TABLE quota_days (
                    day TEXT NOT NULL PRIMARY KEY,
                    used INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v5: send log") { db in
            try db.execute(sql: """
                -- What a sending engine commits between two messages of a connection: a
                -- delivery marked `sending` (state 'sending') or its outcome. Applied to
                -- deliveries and attempts in bulk (SalvoStore+SendLog.swift).
                CREATE TABLE send_log (
                    seq INTEGER PRIMARY KEY,
                    delivery_id INTEGER NOT NULL,
                    owner TEXT NOT NULL,
                    state TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    code INTEGER,
                    enhanced_code TEXT,
                    response TEXT,
                    mx_host TEXT,
                    message_id TEXT,
                    next_attempt_at INTEGER,
                    suppress INTEGER NOT NULL DEFAULT 0
                );
                """)
        }
        migrator.registerMigration("v6-limits: shared send budgets and connection leases") { db in
            try db.execute(sql: """
                -- One send budget per limit key (`global`, `site:…`, `domain:…`) for every
                -- sender of this database: GCRA's theoretical arrival time of the next send
                -- (`due`, Unix seconds) at the spacing it was computed with (`interval`).
                CREATE TABLE shared_budgets (
                    key TEXT NOT NULL PRIMARY KEY,
                    due REAL NOT NULL,
                    interval REAL NOT NULL
                ) WITHOUT ROWID;

                -- Connections open per limit key and owner (a row of `senders`); an
                -- owner presumed dead holds none, whatever its rows say.
                CREATE TABLE shared_leases (
                    key TEXT NOT NULL,
                    owner TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (key, owner)
                ) WITHOUT ROWID;
                CREATE INDEX shared_leases_by_owner ON shared_leases(owner);
                """)
        }
        migrator.registerMigration("v6-campaign: archived campaigns, test sends") { db in
            try db.execute(sql: """
                -- A sent campaign that `salvo campaign delete` archived: left out of
                -- `campaign list`, its deliveries and report kept.
                ALTER TABLE campaigns ADD COLUMN archived_at INTEGER;

                -- `salvo send CAMPAIGN --test-to SEED`: one recipient's message sent to a
                -- seed address, kept apart from the campaign's deliveries.
                CREATE TABLE test_sends (
                    id INTEGER PRIMARY KEY,
                    campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
                    recipient TEXT NOT NULL,               -- whose message it was
                    seed TEXT NOT NULL,                    -- where it went
                    message_id TEXT,
                    outcome TEXT NOT NULL,                 -- sent | failed | unknown
                    reply TEXT,                            -- the server's reply or the error
                    sent_at INTEGER NOT NULL
                );
                CREATE INDEX test_sends_by_campaign ON test_sends(campaign_id);
                """)
        }
        registerWebMigrations(&migrator)
        registerListMigrations(in: &migrator)
        registerTLSMigrations(in: &migrator)
        registerTrackingMigrations(&migrator)
        registerListSuppressionMigrations(in: &migrator)
        registerEgressMigrations(in: &migrator)
        return migrator
    }
}
