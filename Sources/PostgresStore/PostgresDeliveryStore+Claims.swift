import Delivery
import Foundation
import PostgresNIO

/// Claims: the one call several hosts make at the same rows at once.
///
/// `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)`: each claim locks the
/// rows it takes and skips the rows another claim has locked, so two hosts never take one
/// delivery and neither waits for the other. The campaign's row is read `FOR SHARE`, so a
/// pause or cancel (an update of that row) lands before or after a claim, never inside it.
/// With a daily quota, claims take one advisory lock first: what is left of the day is read
/// and taken by one claim at a time.
extension PostgresDeliveryStore {
    /// The quota's advisory lock (classid, objid): "salvo", "quota".
    static let quotaLockKey: (Int32, Int32) = (0x5341_4C56, 2)

    public func claimDue(campaign: Int64, now: Date, limit: Int, owner: String,
                         excludingDomains: Set<String>) async throws -> [ClaimedDelivery] {
        guard limit > 0 else {
            // Still says when the campaign is not there, as a claim of more would.
            _ = try await campaignControl(campaign: campaign)
            return []
        }
        let now = Self.seconds(now)
        let excluded = excludingDomains.sorted()
        let perDay = settings.perDay
        let today = QuotaDay.day(of: settings.clock())
        let taken: [ClaimedDelivery] = try await enduringTransaction("claimDue") { [self] connection in
            let rows = try await connection.query("""
                SELECT state, list_id FROM campaigns WHERE id = \(campaign) FOR SHARE
                """, logger: logger).decode((String, Int64).self).collected()
            guard let row = rows.first else { throw DeliveryStoreError.campaignNotFound(campaign) }
            let (campaignState, list) = row
            // Paused or cancelled between the engine's last look and now: nothing to take.
            guard campaignState == "running" else { return [] }
            var allowed = limit
            if let perDay {
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.quotaLockKey.0), \(Self.quotaLockKey.1))",
                                           logger: logger)
                let committed = try await Self.quotaCommitted(day: today, on: connection, logger: logger)
                allowed = max(0, min(limit, perDay - committed))
            }
            var claimed: [ClaimedDelivery] = []
            // Retries that are due first (they have waited longest), then new recipients;
            // each the oldest first. A suppressed address does not count against the limit.
            for state in [DeliveryState.deferred, .pending] {
                while claimed.count < allowed {
                    let batch = try await connection.query("""
                        WITH due AS (
                            SELECT id FROM deliveries
                            WHERE campaign_id = \(campaign) AND state = \(state.rawValue) AND next_attempt_at <= \(now)
                              AND NOT (domain = ANY(\(excluded)))
                            ORDER BY next_attempt_at, id
                            LIMIT \(allowed - claimed.count)
                            FOR UPDATE SKIP LOCKED
                        ), scoped AS (
                            SELECT d.id,
                                   CASE WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(d.email)) THEN 'global'
                                        WHEN EXISTS (SELECT 1 FROM list_suppressions ls
                                                     WHERE ls.list_id = \(list) AND ls.email = lower(d.email)) THEN 'list'
                                   END AS scope
                            FROM deliveries d WHERE d.id IN (SELECT id FROM due)
                        )
                        UPDATE deliveries d
                        SET state = CASE WHEN scoped.scope IS NULL THEN 'claimed' ELSE 'suppressed' END,
                            suppressed_by = scoped.scope,
                            claimed_by = CASE WHEN scoped.scope IS NULL THEN \(owner) END,
                            claimed_at = CASE WHEN scoped.scope IS NULL THEN \(now) END
                        FROM scoped
                        WHERE d.id = scoped.id
                        RETURNING d.id, d.recipient_id, d.email, d.domain, d.attempts, d.first_attempt_at, d.state,
                                  (SELECT r.attributes::text FROM recipients r WHERE r.id = d.recipient_id)
                        """, logger: logger)
                        .decode((Int64, Int64, String, String, Int64, Int64?, String, String?).self).collected()
                    if batch.isEmpty { break }
                    for (id, recipient, email, domain, attempts, first, rowState, attributes) in batch
                    where rowState == DeliveryState.claimed.rawValue {
                        claimed.append(ClaimedDelivery(id: id, campaignID: campaign, recipientID: recipient, email: email,
                                                       domain: domain, attempts: Int(attempts),
                                                       firstAttemptAt: first.map(Self.date),
                                                       attributes: Self.attributes(attributes)))
                    }
                }
            }
            return claimed
        }
        return taken.sorted { ($0.domain, $0.id) < ($1.domain, $1.id) }
    }

    public func markSending(_ ids: [Int64], owner: String, now: Date) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        // Made again after a lost reply, the marks this call made itself count (`enduring`).
        return try await enduring("markSending") { [self] retry in
            try await transaction("markSending") { connection in
                let marked = try await connection.query("""
                    UPDATE deliveries SET state = 'sending', claimed_at = \(Self.seconds(now))
                    WHERE id = ANY(\(ids)) AND state = ANY(\(retry ? ["claimed", "sending"] : ["claimed"])) AND claimed_by = \(owner)
                    RETURNING id
                    """, logger: logger).decode(Int64.self).collected()
                return Set(marked)
            }
        }
    }

    @discardableResult
    public func release(_ ids: [Int64], owner: String) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await enduringTransaction("release") { [self] connection in
            try await connection.query("""
                UPDATE deliveries
                SET state = CASE WHEN (SELECT c.state FROM campaigns c WHERE c.id = deliveries.campaign_id) = 'cancelled'
                                 THEN 'cancelled' ELSE 'pending' END,
                    claimed_by = NULL, claimed_at = NULL
                WHERE id = ANY(\(ids)) AND state = 'claimed' AND claimed_by = \(owner)
                RETURNING id
                """, logger: logger).decode(Int64.self).collected().count
        }
    }

    @discardableResult
    public func resendUnknown(campaign: Int64) async throws -> Int {
        try await transaction("resendUnknown") { connection in
            let count = try await connection.query("""
                UPDATE deliveries SET state = 'pending', claimed_by = NULL, claimed_at = NULL, next_attempt_at = 0
                WHERE campaign_id = \(campaign) AND state = 'unknown'
                RETURNING id
                """, logger: logger).decode(Int64.self).collected().count
            if count > 0 {
                try await connection.query("""
                    UPDATE campaigns SET state = 'running', finished_at = NULL WHERE id = \(campaign) AND state = 'finished'
                    """, logger: logger)
            }
            return count
        }
    }

    /// Messages handed to servers on `day` plus deliveries any claim holds (each may reach
    /// a server before its outcome is counted), in one statement's snapshot.
    static func quotaCommitted(day: String, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.query("""
            SELECT (SELECT COALESCE(max(used), 0) FROM quota_days WHERE day = \(day))
                 + (SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL AND state IN ('claimed', 'sending'))
            """, logger: logger).decode(Int64.self).collected()
        return Int(rows.first ?? 0)
    }
}
