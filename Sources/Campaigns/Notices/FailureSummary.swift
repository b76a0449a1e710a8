import Delivery
import Foundation
import GRDB

/// What a finished campaign's failure summary tells its sender: how many recipients
/// ended in each state, and where the failures came from, so the first look needs no
/// report file.
public struct FailureSummary: Sendable, Equatable {
    public var campaign: String
    public var counts: DeliveryCounts
    /// The most frequent last replies of the failed, bounced and unknown recipients:
    /// "550 5.1.1 no such user", or what went wrong without a reply.
    public var topReasons: [(reason: String, count: Int)]
    /// The domains with the most failed, bounced and unknown recipients.
    public var topDomains: [(domain: String, count: Int)]

    public init(campaign: String, counts: DeliveryCounts, topReasons: [(reason: String, count: Int)],
                topDomains: [(domain: String, count: Int)]) {
        self.campaign = campaign
        self.counts = counts
        self.topReasons = topReasons
        self.topDomains = topDomains
    }

    /// States that count as not delivered.
    static let failedStates: [DeliveryState] = [.bounced, .failed, .unknown]

    public var failures: Int { Self.failedStates.map { counts[$0] }.reduce(0, +) }

    public static func == (a: FailureSummary, b: FailureSummary) -> Bool {
        a.campaign == b.campaign && a.counts == b.counts && a.topReasons.map(\.reason) == b.topReasons.map(\.reason)
            && a.topReasons.map(\.count) == b.topReasons.map(\.count) && a.topDomains.map(\.domain) == b.topDomains.map(\.domain)
    }
}

extension SalvoStore {
    /// The failure summary of campaign `id` as the store stands now.
    public func failureSummary(campaign id: Int64, top: Int = 5) throws -> FailureSummary {
        try writer.read { db in
            guard let name = try String.fetchOne(db, sql: "SELECT name FROM campaigns WHERE id = ?", arguments: [id]) else {
                throw DeliveryStoreError.campaignNotFound(id)
            }
            let failed = "campaign_id = ? AND state IN ('bounced', 'failed', 'unknown')"
            let reasons = try Row.fetchAll(db, sql: """
                SELECT TRIM(COALESCE(last_code || ' ', '') || COALESCE(last_enhanced_code || ' ', '')
                            || COALESCE(last_response, state)) AS reason, COUNT(*) AS n
                FROM deliveries WHERE \(failed) GROUP BY reason ORDER BY n DESC, reason LIMIT ?
                """, arguments: [id, top]).map { (reason: $0["reason"] as String, count: $0["n"] as Int) }
            let domains = try Row.fetchAll(db, sql: """
                SELECT domain, COUNT(*) AS n FROM deliveries WHERE \(failed) GROUP BY domain ORDER BY n DESC, domain LIMIT ?
                """, arguments: [id, top]).map { (domain: $0["domain"] as String, count: $0["n"] as Int) }
            return FailureSummary(campaign: name, counts: try Self.counts(campaign: id, in: db),
                                  topReasons: reasons, topDomains: domains)
        }
    }
}
