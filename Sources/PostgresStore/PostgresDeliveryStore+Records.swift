import Delivery
import Foundation
import PostgresNIO

/// Outcomes, and what reads them: the campaign's state, its counts, its end.
///
/// An outcome is written only for a delivery its owner holds, `sent` only for one marked
/// `sending`; the attempt log, the hard bounce's suppression, the daily quota's count and
/// the reputation guard's pause go in the same transaction.
extension PostgresDeliveryStore {
    @discardableResult
    public func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String) async throws -> Int {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty else { return 0 }
        return try await transaction("record") { connection in
            try await self.record(outcomes, hardBounces: hardBounces, owner: owner, on: connection)
        }
    }

    public func recordAndMarkSending(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                     owner: String, now: Date) async throws -> Set<Int64> {
        try DeliveryOutcome.checkOutcomes(outcomes)
        guard !outcomes.isEmpty || !ids.isEmpty else { return [] }
        return try await transaction("recordAndMarkSending") { connection in
            try await self.record(outcomes, hardBounces: hardBounces, owner: owner, on: connection)
            return try await Self.markSending(ids, owner: owner, now: now, on: connection, logger: self.logger)
        }
    }

    @discardableResult
    private func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String,
                        on connection: PostgresConnection) async throws -> Int {
        guard !outcomes.isEmpty else { return 0 }
        var recorded = 0
        var reachedServer = 0
        var bouncedCampaigns: Set<Int64> = []
        for outcome in outcomes {
            let at = Self.seconds(outcome.attemptedAt)
            let code = outcome.code.map(Int64.init)
            let next = outcome.nextAttemptAt.map(Self.seconds)
            // The TLS of the session mx_host names: kept when no server was reached.
            let rows = try await connection.query("""
                UPDATE deliveries
                SET state = \(outcome.state.rawValue), attempts = attempts + 1,
                    last_code = \(code), last_enhanced_code = \(outcome.enhancedCode), last_response = \(outcome.response),
                    mx_host = COALESCE(\(outcome.mxHost), mx_host), message_id = COALESCE(\(outcome.messageID), message_id),
                    first_attempt_at = COALESCE(first_attempt_at, \(at)), last_attempt_at = \(at),
                    next_attempt_at = COALESCE(\(next), next_attempt_at),
                    claimed_by = NULL, claimed_at = NULL,
                    tls_version = CASE WHEN \(outcome.mxHost)::text IS NULL THEN tls_version ELSE \(outcome.tlsVersion) END,
                    tls_verified = CASE WHEN \(outcome.mxHost)::text IS NULL THEN tls_verified ELSE \(outcome.certificateVerified) END
                WHERE id = \(outcome.deliveryID) AND claimed_by = \(owner) AND state IN ('claimed', 'sending', 'unknown')
                  AND (state <> 'claimed' OR \(outcome.state.rawValue) <> 'sent')
                RETURNING campaign_id
                """, logger: logger).decode(Int64.self).collected()
            guard let campaign = rows.first else { continue }
            recorded += 1
            if outcome.mxHost != nil || outcome.state == .unknown { reachedServer += 1 }
            if outcome.state == .bounced { bouncedCampaigns.insert(campaign) }
            try await connection.query("""
                INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host,
                                      tls_version, tls_verified, source_address)
                VALUES (\(outcome.deliveryID), \(at), \(outcome.state.rawValue), \(code), \(outcome.enhancedCode),
                        \(outcome.response), \(outcome.mxHost), \(outcome.tlsVersion), \(outcome.certificateVerified),
                        \(outcome.sourceAddress))
                """, logger: logger)
            if hardBounces.contains(outcome.deliveryID) {
                let detail = [outcome.code.map(String.init), outcome.enhancedCode, outcome.response]
                    .compactMap { $0 }.joined(separator: " ")
                try await connection.query("""
                    INSERT INTO suppressions (email, reason, detail, created_at)
                    SELECT lower(email), 'hard-bounce', \(detail), \(at) FROM deliveries WHERE id = \(outcome.deliveryID)
                    ON CONFLICT (email) DO NOTHING
                    """, logger: logger)
            }
        }
        if let maxBounceRate = settings.maxBounceRate {
            for campaign in bouncedCampaigns.sorted() {
                try await pauseIfBouncing(campaign, maxBounceRate: maxBounceRate, on: connection)
            }
        }
        if settings.perDay != nil, reachedServer > 0 {
            let day = QuotaDay.day(of: settings.clock())
            try await connection.query("""
                INSERT INTO quota_days (day, used) VALUES (\(day), \(Int64(reachedServer)))
                ON CONFLICT (day) DO UPDATE SET used = quota_days.used + excluded.used
                """, logger: logger)
        }
        return recorded
    }

    /// The reputation guard, in the recording transaction: a running campaign whose
    /// bounced share of its attempted deliveries passes the threshold is paused, so every
    /// sender of it stops at its next claim or control poll.
    private func pauseIfBouncing(_ campaign: Int64, maxBounceRate: Double, on connection: PostgresConnection) async throws {
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
        try await described("campaignControl") {
            let rows = try await client.query("SELECT state FROM campaigns WHERE id = \(campaign)", logger: logger)
                .decode(String.self).collected()
            guard let state = rows.first else { throw DeliveryStoreError.campaignNotFound(campaign) }
            return CampaignControl(campaignState: state)
        }
    }

    public func nextDueAt(campaign: Int64) async throws -> Date? {
        try await described("nextDueAt") {
            let rows = try await client.query("""
                SELECT min(next_attempt_at) FROM deliveries WHERE campaign_id = \(campaign) AND state = 'deferred'
                """, logger: logger).decode(Int64?.self).collected()
            return rows.first.flatMap { $0 }.map(Self.date)
        }
    }

    public func stateCounts(campaign: Int64) async throws -> DeliveryCounts {
        try await described("stateCounts") {
            var counts = DeliveryCounts()
            let rows = try await client.query("""
                SELECT state, count(*) FROM deliveries WHERE campaign_id = \(campaign) GROUP BY state
                """, logger: logger).decode((String, Int64).self)
            for try await (state, count) in rows {
                if let state = DeliveryState(rawValue: state) { counts.byState[state] = Int(count) }
            }
            return counts
        }
    }

    public func finishIfComplete(campaign: Int64, now: Date) async throws -> Bool {
        let now = Self.seconds(now)
        return try await transaction("finishIfComplete") { connection in
            let open = try await connection.query("""
                SELECT EXISTS (SELECT 1 FROM deliveries
                               WHERE campaign_id = \(campaign) AND state IN ('pending', 'claimed', 'sending', 'deferred'))
                """, logger: logger).decode(Bool.self).collected().first ?? false
            if open { return false }
            try await connection.query("""
                UPDATE campaigns SET state = 'finished', finished_at = \(now) WHERE id = \(campaign) AND state = 'running'
                """, logger: logger)
            return true
        }
    }

    /// The store's clock, not `now`, says which day it is, as on SQLite.
    public func sendingHold(now: Date) async throws -> SendingHold? {
        guard let perDay = settings.perDay else { return nil }
        let today = settings.clock()
        return try await described("sendingHold") {
            let committed = try await client.withConnection { connection in
                try await Self.quotaCommitted(day: QuotaDay.day(of: today), on: connection, logger: logger)
            }
            guard committed >= perDay else { return nil }
            return .dailyQuotaReached(perDay: perDay, now: today)
        }
    }

}
