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
            let statement = try CommitStatement(batch, hardBounces: hardBounces, marking: marks, owner: owner, quota: quota,
                                                remarking: retry)
            return try await described(operation) {
                try await client.execute(statement, logger: logger).collected()
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
