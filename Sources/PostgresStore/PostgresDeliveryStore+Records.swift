import Campaigns
import Delivery
import Foundation
import PostgresNIO

/// Outcomes, and what reads them: the campaign's state, its counts, its end.
///
/// An outcome is written only for a delivery its owner holds, `sent` only for one marked
/// `sending`. A batch of outcomes is one statement, and so one transaction of its own:
/// the deliveries' update, the attempt log, the hard bounces' suppression, the daily
/// quota's count and, with `recordAndMarkSending`, the next messages' `sending` marks are
/// data-modifying parts of it, the outcomes bound as one JSON array. One round trip a
/// commit, where a statement per outcome inside BEGIN and COMMIT cost several: on
/// PostgreSQL the committer's round trips, not the server's work, bound a sender's rate.
/// The reputation guard's pause follows in a statement of its own when a batch bounced.
extension PostgresDeliveryStore {
    @discardableResult
    public func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String) async throws -> Int {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty else { return 0 }
        return try await commit("record", outcomes, hardBounces: hardBounces, marking: nil, owner: owner).recorded
    }

    public func recordAndMarkSending(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                     owner: String, now: Date) async throws -> Set<Int64> {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty || !ids.isEmpty else { return [] }
        return try await commit("recordAndMarkSending", outcomes, hardBounces: hardBounces,
                                marking: ids.isEmpty ? nil : (ids, now), owner: owner).marked
    }

    private func commit(_ operation: String, _ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>,
                        marking marks: (ids: [Int64], now: Date)?, owner: String) async throws -> (recorded: Int, marked: Set<Int64>) {
        // A delivery given twice keeps its first outcome, as one update after another
        // would: the first clears the claim the second needs.
        var seen: Set<Int64> = []
        let batch = outcomes.filter { seen.insert($0.deliveryID).inserted }
        let quota = settings.perDay.map { (rule: DailyQuota(perDay: $0), now: settings.clock()) }
        let rows = try await enduring(operation) { [self] retry in
            let query = try Self.commitStatement(batch, hardBounces: hardBounces, marking: marks, owner: owner, quota: quota,
                                                 remarking: retry)
            return try await described(operation) {
                try await client.query(query, logger: logger).decode((String, Int64, Int64).self).collected()
            }
        }
        var campaigns: [Int64: Int64] = [:]
        var marked: Set<Int64> = []
        for (kind, id, campaign) in rows {
            if kind == "r" { campaigns[id] = campaign } else { marked.insert(id) }
        }
        if let maxBounceRate = settings.maxBounceRate {
            let bounced = Set(batch.filter { $0.state == .bounced }.compactMap { campaigns[$0.deliveryID] })
            for campaign in bounced.sorted() {
                try await enduringRead(operation) { [self] in
                    try await client.withConnection { connection in
                        try await pauseIfBouncing(campaign, maxBounceRate: maxBounceRate, on: connection)
                    }
                }
            }
        }
        return (campaigns.count, marked)
    }

    /// The statement of one commit: rows `('r', delivery, campaign)` for each outcome
    /// recorded and `('m', delivery, 0)` for each delivery marked `sending` (at `now`).
    /// The quota's and the marks' parts are there only when they have something to do;
    /// the quota's day is that of its `now`, the store's clock. `remarking`: the same
    /// commit made again after its reply was lost (`enduring`), when a delivery it marks
    /// may be `sending` already, by this very commit.
    static func commitStatement(_ batch: [DeliveryOutcome], hardBounces: Set<Int64>, marking marks: (ids: [Int64], now: Date)?,
                                owner: String, quota: (rule: DailyQuota, now: Date)?, remarking: Bool = false) throws -> PostgresQuery {
        let rows: [[String: Any]] = batch.enumerated().map { index, outcome in
            var row: [String: Any] = [
                "ord": index, "id": outcome.deliveryID, "state": outcome.state.rawValue, "response": outcome.response,
                "at": seconds(outcome.attemptedAt), "hard": hardBounces.contains(outcome.deliveryID),
                "detail": [outcome.code.map(String.init), outcome.enhancedCode, outcome.response].compactMap { $0 }.joined(separator: " "),
            ]
            row["code"] = outcome.code
            row["enhanced"] = outcome.enhancedCode
            row["mx_host"] = outcome.mxHost
            row["message_id"] = outcome.messageID
            row["next"] = outcome.nextAttemptAt.map(seconds)
            row["tls_version"] = outcome.tlsVersion
            row["tls_verified"] = outcome.certificateVerified
            row["source"] = outcome.sourceAddress
            return row
        }
        var bindings = PostgresBindings()
        bindings.append(String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self))
        bindings.append(owner)
        // A message handed to a server counts against the day's quota (`unknown`: it may
        // have been). The count the upsert returns includes every commit before it (the
        // row is locked until this one ends), so the notice lines this batch crossed are
        // its own, queued once a day each to the campaign of its first such message.
        var quotaParts = ""
        if let (rule, now) = quota {
            let day = QuotaDay.day(of: now)
            let lines: [[String: Any]] = rule.noticeLines.map {
                ["kind": $0.kind.rawValue, "key": DailyQuota.noticeKey($0.kind, day: day), "line": $0.line]
            }
            bindings.append(day)
            let dayBinding = bindings.count
            bindings.append(rule.perDay)
            bindings.append(seconds(now))
            bindings.append(String(decoding: try JSONSerialization.data(withJSONObject: lines), as: UTF8.self))
            quotaParts = """
                , counted AS (
                    SELECT count(*) AS n, (array_agg(u.campaign_id ORDER BY x.ord))[1] AS campaign
                    FROM input x JOIN updated u ON u.id = x.id
                    WHERE x.mx_host IS NOT NULL OR x.state = 'unknown'
                ), quota AS (
                    INSERT INTO quota_days (day, used)
                    SELECT $\(dayBinding), n FROM counted WHERE n > 0
                    ON CONFLICT (day) DO UPDATE SET used = quota_days.used + excluded.used
                    RETURNING used
                ), quota_notices AS (
                    INSERT INTO notices (key, kind, campaign_id, detail, created_at)
                    SELECT l.key, l.kind, c.campaign,
                           json_build_object('day', $\(dayBinding)::text, 'used', q.used, 'perDay', $\(dayBinding + 1)::bigint)::text,
                           $\(dayBinding + 2)
                    FROM quota q CROSS JOIN counted c
                    CROSS JOIN jsonb_to_recordset($\(dayBinding + 3)::jsonb) AS l(kind text, key text, line bigint)
                    WHERE q.used - c.n < l.line AND q.used >= l.line
                    ON CONFLICT (key) DO NOTHING
                )
                """
        }
        var marked = ""
        var markedRows = ""
        if let marks {
            bindings.append(marks.ids)
            bindings.append(seconds(marks.now))
            marked = """
                , marked AS (
                    UPDATE deliveries SET state = 'sending', claimed_at = $\(bindings.count)
                    WHERE id = ANY($\(bindings.count - 1)) AND state \(remarking ? "IN ('claimed', 'sending')" : "= 'claimed'")
                      AND claimed_by = $2
                    RETURNING id
                )
                """
            markedRows = "UNION ALL SELECT 'm', id, 0 FROM marked"
        }
        // The TLS of the session mx_host names: kept when no server was reached.
        return PostgresQuery(unsafeSQL: """
            WITH input AS (
                SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
                    ord bigint, id bigint, state text, code bigint, enhanced text, response text, mx_host text,
                    message_id text, at bigint, next bigint, tls_version text, tls_verified boolean, source text,
                    hard boolean, detail text)
            ), updated AS (
                UPDATE deliveries d
                SET state = x.state, attempts = d.attempts + 1,
                    last_code = x.code, last_enhanced_code = x.enhanced, last_response = x.response,
                    mx_host = COALESCE(x.mx_host, d.mx_host), message_id = COALESCE(x.message_id, d.message_id),
                    first_attempt_at = COALESCE(d.first_attempt_at, x.at), last_attempt_at = x.at,
                    next_attempt_at = COALESCE(x.next, d.next_attempt_at),
                    claimed_by = NULL, claimed_at = NULL,
                    tls_version = CASE WHEN x.mx_host IS NULL THEN d.tls_version ELSE x.tls_version END,
                    tls_verified = CASE WHEN x.mx_host IS NULL THEN d.tls_verified ELSE x.tls_verified END
                FROM input x
                WHERE d.id = x.id AND d.claimed_by = $2 AND d.state IN ('claimed', 'sending', 'unknown')
                  AND (d.state <> 'claimed' OR x.state <> 'sent')
                RETURNING d.id, d.campaign_id, d.email
            ), logged AS (
                INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host,
                                      tls_version, tls_verified, source_address)
                SELECT x.id, x.at, x.state, x.code, x.enhanced, x.response, x.mx_host, x.tls_version, x.tls_verified, x.source
                FROM input x JOIN updated u ON u.id = x.id
                ORDER BY x.ord
            ), suppressed AS (
                INSERT INTO suppressions (email, reason, detail, created_at)
                SELECT DISTINCT ON (lower(u.email)) lower(u.email), 'hard-bounce', x.detail, x.at
                FROM input x JOIN updated u ON u.id = x.id
                WHERE x.hard
                ORDER BY lower(u.email), x.ord
                ON CONFLICT (email) DO NOTHING
            )\(quotaParts)\(marked)
            SELECT 'r', id, campaign_id FROM updated
            \(markedRows)
            """, binds: bindings)
    }

    /// The reputation guard, after a batch that bounced: a running campaign whose
    /// bounced share of its attempted deliveries passes the threshold is paused, so every
    /// sender of it stops at its next claim or control poll.
    func pauseIfBouncing(_ campaign: Int64, maxBounceRate: Double, on connection: PostgresConnection) async throws {
        let rows = try await connection.query("""
            SELECT count(*) FILTER (WHERE state = 'bounced'),
                   count(*) FILTER (WHERE state IN ('sent', 'bounced', 'failed', 'unknown', 'deferred'))
            FROM deliveries WHERE campaign_id = \(campaign)
            """, logger: logger).decode((Int64, Int64).self).collected()
        guard let counts = rows.first,
              let reason = BounceRate(bounced: Int(counts.0), attempted: Int(counts.1))
                  .pauseReason(maxBounceRate: maxBounceRate, minimumAttempts: settings.minimumAttempts) else { return }
        try await connection.query("""
            UPDATE campaigns SET state = 'paused', state_reason = \(reason) WHERE id = \(campaign) AND state = 'running'
            """, logger: logger)
    }

    public func campaignControl(campaign: Int64) async throws -> CampaignControl {
        try await enduringRead("campaignControl") { [self] in
            let rows = try await client.query("SELECT state FROM campaigns WHERE id = \(campaign)", logger: logger)
                .decode(String.self).collected()
            guard let state = rows.first else { throw DeliveryStoreError.campaignNotFound(campaign) }
            return CampaignControl(campaignState: state)
        }
    }

    public func nextDueAt(campaign: Int64) async throws -> Date? {
        try await enduringRead("nextDueAt") { [self] in
            let rows = try await client.query("""
                SELECT min(next_attempt_at) FROM deliveries WHERE campaign_id = \(campaign) AND state = 'deferred'
                """, logger: logger).decode(Int64?.self).collected()
            return rows.first.flatMap { $0 }.map(Self.date)
        }
    }

    public func stateCounts(campaign: Int64) async throws -> DeliveryCounts {
        try await enduringRead("stateCounts") { [self] in
            try await client.withConnection { connection in try await Self.counts(campaign: campaign, on: connection, logger: logger) }
        }
    }

    public func finishIfComplete(campaign: Int64, now: Date) async throws -> Bool {
        let now = Self.seconds(now)
        return try await enduringTransaction("finishIfComplete") { [self] connection in
            let open = try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM deliveries
                               WHERE campaign_id = \(campaign) AND state IN ('pending', 'claimed', 'sending', 'deferred'))
                """, logger: logger).decode(Bool.self).collected().first ?? false
            if open { return false }
            let finished = try await connection.query("""
                UPDATE campaigns SET state = 'finished', finished_at = \(now) WHERE id = \(campaign) AND state = 'running'
                RETURNING id
                """, logger: logger).decode(Int64.self).collected()
            // The sender hears of the failures once, when the campaign finishes.
            if !finished.isEmpty { try await Self.queueFailureSummary(campaign: campaign, now: now, on: connection, logger: logger) }
            return true
        }
    }

    /// The store's clock, not `now`, says which day it is, as on SQLite.
    public func sendingHold(now: Date) async throws -> SendingHold? {
        guard let perDay = settings.perDay else { return nil }
        let today = settings.clock()
        return try await enduringRead("sendingHold") { [self] in
            let committed = try await client.withConnection { connection in
                try await Self.quotaCommitted(day: QuotaDay.day(of: today), on: connection, logger: logger)
            }
            guard committed >= perDay else { return nil }
            return .dailyQuotaReached(perDay: perDay, now: today)
        }
    }

}
