import Delivery
import Foundation
import GRDB

/// The engine's side of the store over SQLite.
///
/// SQLite has one writer at a time (every `write` here is a `BEGIN IMMEDIATE`
/// transaction), so a claim — select the due ids and mark them in one `UPDATE … WHERE id
/// IN (SELECT … LIMIT n) RETURNING …` — can never hand one row to two senders, whether
/// they are two tasks, two `SalvoStore`s or two processes on the same file.
///
/// Batches of ids travel as one JSON array argument (`id IN (SELECT value FROM
/// json_each(?))`), so each statement is prepared once and cached, whatever the batch size.
extension SalvoStore: DeliveryStore, SynchronousCommits {
    /// How long an owner may stay silent before its claims are presumed abandoned. An
    /// owner on this host whose process has ended is recovered at once.
    public static let senderLease: TimeInterval = 60

    public func claimDue(campaign: Int64, now: Date, limit: Int, owner: String,
                         excludingDomains: Set<String>) async throws -> [ClaimedDelivery] {
        guard limit > 0 else { return [] }
        let now = Self.seconds(now)
        let excluded = try JSONColumns.encode(excludingDomains.sorted())
        let batch: ClaimBatch = try await write { db in
            try self.applySendLog(in: db)
            // The campaign's state, its list and that list's attribute names, in one read.
            guard let campaignRow = try Row.fetchOne(db, sql: """
                SELECT c.state, c.list_id, l.columns FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.id = ?
                """, arguments: [campaign]) else {
                throw DeliveryStoreError.campaignNotFound(campaign)
            }
            let columns = JSONColumns.decode(campaignRow["columns"])
            // Paused or cancelled between the engine's last look and now: nothing to take.
            guard campaignRow["state"] as String == "running" else { return ClaimBatch(columns: columns, rows: []) }
            let listID: Int64 = campaignRow["list_id"]
            // The daily quota (DailyQuota.swift) caps what this claim may take.
            let allowed = try dailyQuota?.allowance(limit, now: clock(), in: db) ?? limit
            // Retries that are due first (they have waited longest), then new recipients;
            // each in the order of the (campaign_id, state, next_attempt_at) index, so the
            // claim reads only what it takes.
            // An address suppressed globally or on the campaign's list since the start
            // is `suppressed` now, with the scope that applied. The scope is worked out
            // once per row, in the subquery that picks the rows (SET sees only the old
            // row, so naming it in both columns would look every address up twice).
            let scope = Self.suppressionScopeSQL(email: "d.email", list: ":list")
            let statement = try db.cachedStatement(sql: """
                UPDATE deliveries
                SET state = CASE WHEN due.scope IS NULL THEN 'claimed' ELSE 'suppressed' END,
                    suppressed_by = due.scope,
                    claimed_by = :owner, claimed_at = :now
                FROM (SELECT d.id, \(scope) AS scope FROM deliveries d
                      WHERE d.campaign_id = :campaign AND d.state = :state AND d.next_attempt_at <= :now
                        AND d.domain NOT IN (SELECT value FROM json_each(:excluded))
                      ORDER BY d.next_attempt_at, d.id LIMIT :limit) AS due
                WHERE deliveries.id = due.id
                RETURNING deliveries.id AS id, deliveries.recipient_id AS recipient_id, deliveries.email AS email,
                          deliveries.domain AS domain, deliveries.attempts AS attempts,
                          deliveries.first_attempt_at AS first_attempt_at, deliveries.state AS state,
                          (SELECT attributes FROM recipients r WHERE r.id = deliveries.recipient_id) AS attributes
                """)
            var taken: [ClaimRow] = []
            var suppressed: [Int64] = []
            for state in [DeliveryState.deferred, .pending] {
                while taken.count < allowed {
                    let batch = try Row.fetchAll(statement, arguments: [
                        "owner": owner, "now": now, "campaign": campaign, "state": state.rawValue,
                        "excluded": excluded, "limit": allowed - taken.count, "list": listID,
                    ])
                    if batch.isEmpty { break }
                    for row in batch {
                        if row["state"] as String == DeliveryState.claimed.rawValue {
                            taken.append(ClaimRow(id: row["id"], recipientID: row["recipient_id"], email: row["email"],
                                                  domain: row["domain"], attempts: row["attempts"],
                                                  firstAttemptAt: row["first_attempt_at"], attributes: row["attributes"]))
                        } else {
                            suppressed.append(row["id"])
                        }
                    }
                }
            }
            if !suppressed.isEmpty {
                try db.execute(sql: """
                    UPDATE deliveries SET claimed_by = NULL, claimed_at = NULL
                    WHERE id IN (SELECT value FROM json_each(?))
                    """, arguments: [Self.jsonIDs(suppressed)])
            }
            return ClaimBatch(columns: columns, rows: taken)
        }
        let columns = batch.columns
        return batch.rows.map { row in
            ClaimedDelivery(id: row.id, campaignID: campaign, recipientID: row.recipientID, email: row.email,
                            domain: row.domain, attempts: row.attempts, firstAttemptAt: row.firstAttemptAt.map(Self.date),
                            attributes: row.attributes.map { AttributeArray.dictionary($0, columns: columns) } ?? [:])
        }
        .sorted { ($0.domain, $0.id) < ($1.domain, $1.id) }
    }

    public func markSending(_ ids: [Int64], owner: String, now: Date) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return try await write { db in try Self.markSending(ids, owner: owner, now: now, in: db) }
    }

    /// The same commit as `recordAndMarkSendingSynchronously`, through the store's
    /// queue; the engine uses the synchronous one (`SynchronousCommits`).
    public func recordAndMarkSending(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                     owner: String, now: Date) async throws -> Set<Int64> {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty || !ids.isEmpty else { return [] }
        return try await write { db in
            try self.appendToSendLog(outcomes, hardBounces: hardBounces, marking: ids, owner: owner, now: now, in: db)
        }
    }

    public func recordAndMarkSendingSynchronously(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                                  owner: String, now: Date) throws -> Set<Int64> {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty || !ids.isEmpty else { return [] }
        // The engine's hottest transaction: BEGIN and COMMIT as cached statements, not
        // parsed anew each time as `write` does.
        return try writeWithoutTransactionNow { db in
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
            do {
                let marked = try self.appendToSendLog(outcomes, hardBounces: hardBounces, marking: ids, owner: owner, now: now, in: db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                return marked
            } catch {
                if db.isInsideTransaction { try? db.rollback() }
                throw error
            }
        }
    }

    private static func markSending(_ ids: [Int64], owner: String, now: Date, in db: Database) throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        let statement = try db.cachedStatement(sql: """
            UPDATE deliveries SET state = 'sending', claimed_at = ?
            WHERE id IN (SELECT value FROM json_each(?)) AND state = 'claimed' AND claimed_by = ?
            RETURNING id
            """)
        return Set(try Int64.fetchAll(statement, arguments: [seconds(now), jsonIDs(ids), owner]))
    }

    @discardableResult
    public func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String) async throws -> Int {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty else { return 0 }
        return try await write { db in
            try self.applySendLog(in: db)
            return try self.record(outcomes, hardBounces: hardBounces, owner: owner, in: db)
        }
    }

    /// `markedInLog`: the outcomes come from the send log, whose `sending` marks are not
    /// written to `deliveries` when the outcome follows in the same batch.
    @discardableResult
    func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String, markedInLog: Bool = false,
                in db: Database) throws -> Int {
        guard !outcomes.isEmpty else { return 0 }
        let update = try db.cachedStatement(sql: """
            UPDATE deliveries
            SET state = ?, attempts = attempts + 1,
                last_code = ?, last_enhanced_code = ?, last_response = ?,
                mx_host = COALESCE(?, mx_host), message_id = COALESCE(?, message_id),
                first_attempt_at = COALESCE(first_attempt_at, ?), last_attempt_at = ?,
                next_attempt_at = COALESCE(?, next_attempt_at),
                claimed_by = NULL, claimed_at = NULL,
                -- The TLS of the session mx_host names: kept when no server was reached.
                tls_version = IIF(?5 IS NULL, tls_version, ?),
                tls_verified = IIF(?5 IS NULL, tls_verified, ?)
            WHERE id = ? AND claimed_by = ? AND state IN ('claimed', 'sending', 'unknown')
              AND (state <> 'claimed' OR ?1 <> 'sent' OR ?)
            """)
        let attempt = try db.cachedStatement(sql: """
            INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host,
                                  tls_version, tls_verified, source_address)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let suppress = try db.cachedStatement(sql: """
            INSERT INTO suppressions (email, reason, detail, created_at)
            SELECT email, 'hard-bounce', ?, ? FROM deliveries WHERE id = ?
            ON CONFLICT (email) DO NOTHING
            """)
        var recorded = 0
        var reachedServer: [Int64] = []
        for outcome in outcomes {
            let at = Self.seconds(outcome.attemptedAt)
            try update.execute(arguments: [
                outcome.state.rawValue, outcome.code, outcome.enhancedCode, outcome.response,
                outcome.mxHost, outcome.messageID, at, at, outcome.nextAttemptAt.map(Self.seconds),
                outcome.tlsVersion, outcome.certificateVerified,
                outcome.deliveryID, owner, markedInLog,
            ])
            guard db.changesCount == 1 else { continue }
            recorded += 1
            if outcome.reachedServer { reachedServer.append(outcome.deliveryID) }
            try attempt.execute(arguments: [
                outcome.deliveryID, at, outcome.state.rawValue, outcome.code, outcome.enhancedCode,
                outcome.response, outcome.mxHost, outcome.tlsVersion, outcome.certificateVerified, outcome.sourceAddress,
            ])
            if hardBounces.contains(outcome.deliveryID) {
                let detail = [outcome.code.map(String.init), outcome.enhancedCode, outcome.response]
                    .compactMap { $0 }.joined(separator: " ")
                try suppress.execute(arguments: [detail, at, outcome.deliveryID])
            }
        }
        if let reputationGuard {
            let bounced = outcomes.filter { $0.state == .bounced }.map(\.deliveryID)
            try reputationGuard.check(deliveryIDs: bounced, in: db)
        }
        try dailyQuota?.count(reachedServer, now: clock(), in: db)
        return recorded
    }

    @discardableResult
    public func release(_ ids: [Int64], owner: String) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await write { db in
            try self.applySendLog(in: db)
            let statement = try db.cachedStatement(sql: """
                UPDATE deliveries
                SET state = CASE WHEN (SELECT c.state FROM campaigns c WHERE c.id = deliveries.campaign_id) = 'cancelled'
                                 THEN 'cancelled' ELSE 'pending' END,
                    claimed_by = NULL, claimed_at = NULL
                WHERE id IN (SELECT value FROM json_each(?)) AND state = 'claimed' AND claimed_by = ?
                """)
            try statement.execute(arguments: [Self.jsonIDs(ids), owner])
            return db.changesCount
        }
    }

    public func heartbeat(owner: String, now: Date) async throws {
        let process = SenderProcess.current
        let now = Self.seconds(now)
        try await write { db in
            try db.execute(sql: """
                INSERT INTO senders (owner, host, process, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
                """, arguments: [owner, process.host, process.process, now, now])
        }
    }

    public func signOff(owner: String) async throws {
        try await write { db in
            try self.applySendLog(in: db)
            try db.execute(sql: """
                UPDATE deliveries
                SET state = CASE WHEN (SELECT c.state FROM campaigns c WHERE c.id = deliveries.campaign_id) = 'cancelled'
                                 THEN 'cancelled' ELSE 'pending' END,
                    claimed_by = NULL, claimed_at = NULL
                WHERE claimed_by = ? AND state = 'claimed'
                """, arguments: [owner])
            try db.execute(sql: "DELETE FROM senders WHERE owner = ?", arguments: [owner])
            try db.execute(sql: "DELETE FROM shared_leases WHERE owner = ?", arguments: [owner])
        }
    }

    public func recoverAbandoned(campaign: Int64, owner: String, now: Date) async throws -> DeliveryRecovery {
        let here = SenderProcess.current
        let now = Self.seconds(now)
        return try await write { db in
            try self.applySendLog(in: db)
            let holders = try String?.fetchAll(db, sql: """
                SELECT DISTINCT claimed_by FROM deliveries
                WHERE campaign_id = ? AND state IN ('claimed', 'sending')
                """, arguments: [campaign])
            var gone: [String] = []
            var orphans = false
            for holder in holders {
                guard let holder else { orphans = true; continue }
                if holder == owner { continue }
                let sender = try Row.fetchOne(db, sql: "SELECT host, process, heartbeat_at FROM senders WHERE owner = ?",
                                              arguments: [holder])
                if !SenderProcess.isAlive(host: sender?["host"], process: sender?["process"], heartbeatAt: sender?["heartbeat_at"],
                                          now: now, lease: Self.senderLease, here: here) {
                    gone.append(holder)
                }
            }
            guard !gone.isEmpty || orphans else { return DeliveryRecovery() }
            let goneJSON = try JSONColumns.encode(gone)
            let held = "campaign_id = ? AND (claimed_by IS NULL OR claimed_by IN (SELECT value FROM json_each(?)))"
            try db.execute(sql: """
                UPDATE deliveries SET state = 'pending', claimed_by = NULL, claimed_at = NULL
                WHERE state = 'claimed' AND \(held)
                """, arguments: [campaign, goneJSON])
            let released = db.changesCount
            // The message may have been accepted: say so in the attempt log, keep who held
            // it, and never send it again without `resendUnknown`.
            try db.execute(sql: """
                INSERT INTO attempts (delivery_id, attempted_at, outcome, response)
                SELECT id, COALESCE(claimed_at, ?), 'unknown', ? FROM deliveries
                WHERE state = 'sending' AND \(held)
                """, arguments: [now, DeliveryRecovery.unknownResponse, campaign, goneJSON])
            try db.execute(sql: """
                UPDATE deliveries
                SET state = 'unknown', attempts = attempts + 1, last_code = NULL, last_enhanced_code = NULL,
                    last_response = ?, first_attempt_at = COALESCE(first_attempt_at, claimed_at, ?),
                    last_attempt_at = COALESCE(claimed_at, ?)
                WHERE state = 'sending' AND \(held)
                """, arguments: [DeliveryRecovery.unknownResponse, now, now, campaign, goneJSON])
            let unknown = db.changesCount
            try db.execute(sql: "DELETE FROM senders WHERE owner IN (SELECT value FROM json_each(?))", arguments: [goneJSON])
            try db.execute(sql: "DELETE FROM shared_leases WHERE owner IN (SELECT value FROM json_each(?))", arguments: [goneJSON])
            return DeliveryRecovery(released: released, unknown: unknown)
        }
    }

    private struct ClaimBatch: Sendable {
        var columns: [String]
        var rows: [ClaimRow]
    }

    private struct ClaimRow: Sendable {
        var id: Int64
        var recipientID: Int64
        var email: String
        var domain: String
        var attempts: Int
        var firstAttemptAt: Int64?
        var attributes: String?
    }

    @discardableResult
    public func resendUnknown(campaign: Int64) async throws -> Int {
        try await write { db in
            try self.applySendLog(in: db)
            try db.execute(sql: """
                UPDATE deliveries SET state = 'pending', claimed_by = NULL, claimed_at = NULL, next_attempt_at = 0
                WHERE campaign_id = ? AND state = 'unknown'
                """, arguments: [campaign])
            let count = db.changesCount
            if count > 0 {
                try db.execute(sql: """
                    UPDATE campaigns SET state = 'running', finished_at = NULL WHERE id = ? AND state = 'finished'
                    """, arguments: [campaign])
            }
            return count
        }
    }

    public func campaignControl(campaign: Int64) async throws -> CampaignControl {
        try await writer.read { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM campaigns WHERE id = ?", arguments: [campaign]) else {
                throw DeliveryStoreError.campaignNotFound(campaign)
            }
            return CampaignControl(campaignState: state)
        }
    }

    public func nextDueAt(campaign: Int64) async throws -> Date? {
        try await writer.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT MIN(next_attempt_at) FROM deliveries WHERE campaign_id = ? AND state = 'deferred'
                """, arguments: [campaign]).map(Self.date)
        }
    }

    public func stateCounts(campaign: Int64) async throws -> DeliveryCounts {
        try await writer.read { db in try Self.counts(campaign: campaign, in: db) }
    }

    public func finishIfComplete(campaign: Int64, now: Date) async throws -> Bool {
        let now = Self.seconds(now)
        return try await write { db in
            try self.applySendLog(in: db)
            let open = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM deliveries
                               WHERE campaign_id = ? AND state IN ('pending', 'claimed', 'sending', 'deferred'))
                """, arguments: [campaign]) ?? false
            if open { return false }
            try db.execute(sql: """
                UPDATE campaigns SET state = 'finished', finished_at = ? WHERE id = ? AND state = 'running'
                """, arguments: [now, campaign])
            // The sender hears of the failures once, when the campaign finishes (Notices/).
            if db.changesCount == 1 { try Self.queueFailureSummary(campaign: campaign, now: Self.date(now), in: db) }
            return true
        }
    }

    // MARK: - Shared pieces


    static func counts(campaign: Int64, in db: Database) throws -> DeliveryCounts {
        var counts = DeliveryCounts()
        for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM deliveries WHERE campaign_id = ? GROUP BY state",
                                    arguments: [campaign]) {
            if let state = DeliveryState(rawValue: row["state"]) { counts.byState[state] = row["n"] }
        }
        return counts
    }

    /// The attribute names of a campaign's list, in the order of its attribute arrays.
    static func columns(ofCampaign campaign: Int64, in db: Database) throws -> [String] {
        guard let columns = try String.fetchOne(db, sql: """
            SELECT l.columns FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.id = ?
            """, arguments: [campaign]) else {
            throw DeliveryStoreError.campaignNotFound(campaign)
        }
        return JSONColumns.decode(columns)
    }

    static func jsonIDs(_ ids: [Int64]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
    }

    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }
    static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
}
