import Delivery
import Foundation
import GRDB

/// One recipient's line of a campaign's delivery report (the columns of the report CSV).
public struct DeliveryReportRow: Sendable, Equatable {
    public var email: String
    public var status: String
    public var attempts: Int
    public var smtpCode: Int?
    public var enhancedCode: String?
    public var response: String?
    public var mxHost: String?
    public var messageID: String?
    public var firstAttemptAt: Date?
    public var lastAttemptAt: Date?
}

extension SalvoStore {
    /// Every delivery of a campaign, in delivery order.
    public func deliveryReport(campaign name: String) throws -> [DeliveryReportRow] {
        settleSendLog()
        return try writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            return try Row.fetchAll(db, sql: """
                SELECT email, state, attempts, last_code, last_enhanced_code, last_response, mx_host, message_id,
                       first_attempt_at, last_attempt_at
                FROM deliveries WHERE campaign_id = ? ORDER BY id
                """, arguments: [id]).map { row in
                DeliveryReportRow(email: row["email"], status: row["state"], attempts: row["attempts"], smtpCode: row["last_code"],
                                  enhancedCode: row["last_enhanced_code"], response: row["last_response"], mxHost: row["mx_host"],
                                  messageID: row["message_id"],
                                  firstAttemptAt: (row["first_attempt_at"] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) },
                                  lastAttemptAt: (row["last_attempt_at"] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) })
            }
        }
    }
}

/// What `salvo status` shows beyond the counts per state.
public struct CampaignStatus: Sendable, Equatable {
    public var name: String
    public var state: String
    public var reason: String?
    public var counts: DeliveryCounts
    /// The domains with the most deliveries, with their count.
    public var topDomains: [(domain: String, count: Int)]
    /// The most frequent last reply codes ("250", "451 4.7.0", …), with their count.
    public var topReplies: [(reply: String, count: Int)]
    /// Recipients who complained about the campaign's message (`salvo bounces import`).
    public var complaints = 0

    public static func == (a: CampaignStatus, b: CampaignStatus) -> Bool {
        a.name == b.name && a.state == b.state && a.counts == b.counts && a.complaints == b.complaints
            && a.topDomains.map(\.domain) == b.topDomains.map(\.domain) && a.topReplies.map(\.reply) == b.topReplies.map(\.reply)
    }
}

extension SalvoStore {
    public func status(campaign name: String, top: Int = 5) throws -> CampaignStatus {
        let counts = try deliveryCounts(campaign: name)
        return try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, state, state_reason FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let id: Int64 = row["id"]
            let domains = try Row.fetchAll(db, sql: """
                SELECT domain, COUNT(*) AS n FROM deliveries WHERE campaign_id = ? GROUP BY domain ORDER BY n DESC, domain LIMIT ?
                """, arguments: [id, top]).map { (domain: $0["domain"] as String, count: $0["n"] as Int) }
            let replies = try Row.fetchAll(db, sql: """
                SELECT last_code || COALESCE(' ' || last_enhanced_code, '') AS reply, COUNT(*) AS n FROM deliveries
                WHERE campaign_id = ? AND last_code IS NOT NULL GROUP BY reply ORDER BY n DESC, reply LIMIT ?
                """, arguments: [id, top]).map { (reply: $0["reply"] as String, count: $0["n"] as Int) }
            let complaints = try Int.fetchOne(db, sql: """
                SELECT COUNT(DISTINCT e.delivery_id) FROM bounce_events e JOIN deliveries d ON d.id = e.delivery_id
                WHERE d.campaign_id = ? AND e.kind = 'complaint'
                """, arguments: [id]) ?? 0
            var status = CampaignStatus(name: name, state: row["state"], reason: row["state_reason"], counts: counts,
                                        topDomains: domains, topReplies: replies)
            status.complaints = complaints
            return status
        }
    }
}

/// The report CSV of DESIGN.md: a header row, then one row per recipient; times in
/// RFC 3339 UTC; quoted per RFC 4180.
public enum DeliveryReportCSV {
    public static let header = "email,status,attempts,smtp_code,enhanced_code,response,mx_host,message_id,first_attempt_at,last_attempt_at"

    public static func line(_ row: DeliveryReportRow) -> String {
        [row.email, row.status, String(row.attempts), row.smtpCode.map(String.init) ?? "", row.enhancedCode ?? "",
         row.response ?? "", row.mxHost ?? "", row.messageID ?? "", time(row.firstAttemptAt), time(row.lastAttemptAt)]
            .map(CSVField.quote).joined(separator: ",")
    }

    private static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        return date.formatted(.iso8601)  // 2026-12-01T09:00:00Z
    }
}
