import Delivery
import Foundation
import GRDB

/// Pauses a campaign whose bounce rate says the list is bad: a sender that keeps mailing
/// dead addresses is marked as a spammer by the mailbox providers, and every later
/// campaign pays for it. Checked by the store as outcomes are recorded, so it holds
/// whichever process sends; the running sender sees the pause through the store and stops.
public struct ReputationGuard: Sendable {
    /// Bounced deliveries over attempted ones above which the campaign pauses.
    public var maxBounceRate: Double
    /// Deliveries that must have been attempted before the rate means anything.
    public var minimumAttempts: Int

    /// How often one campaign is counted again: the count reads the campaign's whole
    /// index range, too much for every batch of a million-recipient send.
    public var interval: TimeInterval

    private let lastChecks = LastChecks()

    public init(maxBounceRate: Double = 0.05, minimumAttempts: Int = 500, interval: TimeInterval = 2) {
        self.maxBounceRate = maxBounceRate
        self.minimumAttempts = minimumAttempts
        self.interval = interval
    }

    /// Checks the campaigns of `deliveryIDs` inside the recording transaction; a campaign
    /// over the threshold becomes `paused` with the reason in `state_reason`.
    func check(deliveryIDs: [Int64], in db: Database) throws {
        guard !deliveryIDs.isEmpty else { return }
        let campaigns = try Int64.fetchAll(db, sql: """
            SELECT DISTINCT campaign_id FROM deliveries WHERE id IN (\(deliveryIDs.map { _ in "?" }.joined(separator: ",")))
            """, arguments: StatementArguments(deliveryIDs))
        for campaign in campaigns where lastChecks.due(campaign, every: interval) {
            // Counted through the (campaign_id, state, …) index: no table scan.
            let row = try Row.fetchOne(db, sql: """
                SELECT SUM(state = 'bounced') AS bounced,
                       SUM(state IN ('sent', 'bounced', 'failed', 'unknown', 'deferred')) AS attempted
                FROM deliveries WHERE campaign_id = ?
                """, arguments: [campaign])
            let rate = BounceRate(bounced: row?["bounced"] ?? 0, attempted: row?["attempted"] ?? 0)
            guard let reason = rate.pauseReason(maxBounceRate: maxBounceRate, minimumAttempts: minimumAttempts) else { continue }
            try db.execute(sql: """
                UPDATE campaigns SET state = 'paused', state_reason = ? WHERE id = ? AND state = 'running'
                """, arguments: [reason, campaign])
        }
    }
}

/// When each campaign was last counted.
private final class LastChecks: @unchecked Sendable {
    private let lock = NSLock()
    private var times: [Int64: Date] = [:]

    func due(_ campaign: Int64, every interval: TimeInterval) -> Bool {
        lock.withLock {
            let now = Date()
            if let last = times[campaign], now.timeIntervalSince(last) < interval { return false }
            times[campaign] = now
            return true
        }
    }
}
