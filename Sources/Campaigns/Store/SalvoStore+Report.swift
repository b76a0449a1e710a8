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
        try writer.read { db in
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
