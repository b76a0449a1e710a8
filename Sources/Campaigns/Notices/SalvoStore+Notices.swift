import Delivery
import Foundation
import GRDB

/// The `notices` table: queued inside the transactions that decide them (the one that
/// finishes a campaign, the one that counts the quota), then claimed, rendered and marked
/// by `NoticeSender`.
extension SalvoStore {
    /// How long a notice's claim protects it from another sender. A sender that died
    /// holding one leaves it to be tried again after this: a small window in which a
    /// notice whose DATA had gone out could be sent twice, against one never sent.
    public static let noticeLease: TimeInterval = 600
    /// Attempts after which a notice that keeps failing for now is given up.
    public static let noticeMaxAttempts = 20

    /// Queues a notice unless one with `key` exists (it is then left as it is).
    static func queueNotice(key: String, kind: Notice.Kind, campaign: Int64?, detail: some Encodable,
                            now: Date, in db: Database) throws {
        let json = String(decoding: try JSONEncoder().encode(detail), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO notices (key, kind, campaign_id, detail, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (key) DO NOTHING
            """, arguments: [key, kind.rawValue, campaign, json, Self.seconds(now)])
    }

    /// Queues the campaign's failure summary when any recipient ended failed, bounced or
    /// unknown. Called in the transaction that marks the campaign finished.
    static func queueFailureSummary(campaign: Int64, now: Date, in db: Database) throws {
        // Through the (campaign_id, state, …) index.
        let failures = try Bool.fetchOne(db, sql: """
            SELECT EXISTS (SELECT 1 FROM deliveries WHERE campaign_id = ? AND state IN ('failed', 'bounced', 'unknown'))
            """, arguments: [campaign]) ?? false
        guard failures else { return }
        try queueNotice(key: "\(Notice.Kind.failureSummary.rawValue):\(campaign)", kind: .failureSummary,
                        campaign: campaign, detail: [String: String](), now: now, in: db)
    }

    public func campaignName(id: Int64) throws -> String {
        try writer.read { db in
            guard let name = try String.fetchOne(db, sql: "SELECT name FROM campaigns WHERE id = ?", arguments: [id]) else {
                throw DeliveryStoreError.campaignNotFound(id)
            }
            return name
        }
    }

    /// Every notice (of one campaign when given), oldest first.
    public func notices(campaign name: String? = nil) throws -> [Notice] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT n.* FROM notices n LEFT JOIN campaigns c ON c.id = n.campaign_id
                WHERE ?1 IS NULL OR c.name = ?1 ORDER BY n.id
                """, arguments: [name]).map(Self.notice)
        }
    }

    /// Takes the notices to send now: pending ones, and those whose sender's claim is
    /// older than the lease. Each attempt is counted here, before any byte goes out.
    public func claimNotices(owner: String, now: Date) throws -> [Notice] {
        let now = Self.seconds(now)
        return try writer.write { db in
            try Row.fetchAll(db, sql: """
                UPDATE notices SET state = 'sending', claimed_by = ?, claimed_at = ?, attempts = attempts + 1
                WHERE state = 'pending' OR (state = 'sending' AND claimed_at < ?)
                RETURNING *
                """, arguments: [owner, now, now - Int64(Self.noticeLease)]).map(Self.notice).sorted { $0.id < $1.id }
        }
    }

    /// Keeps the rendered message, so every later attempt sends the same bytes.
    public func saveNoticeMessage(id: Int64, mailFrom: String, rcptTo: String, messageID: String, message: [UInt8]) throws {
        try writer.write { db in
            try db.execute(sql: """
                UPDATE notices SET mail_from = ?, rcpt_to = ?, message_id = ?, message = ? WHERE id = ? AND message IS NULL
                """, arguments: [mailFrom, rcptTo, messageID, Data(message), id])
        }
    }

    /// A server took the notice (or may have: `note` says so).
    public func noticeSent(id: Int64, owner: String, note: String? = nil, now: Date) throws {
        try writer.write { db in
            try db.execute(sql: """
                UPDATE notices SET state = 'sent', sent_at = ?, last_error = ?, claimed_by = NULL, claimed_at = NULL
                WHERE id = ? AND claimed_by = ?
                """, arguments: [Self.seconds(now), note, id, owner])
        }
    }

    /// The attempt failed: `pending` again for the next run, or `failed` for good when the
    /// failure is permanent or the attempts are spent. Returns the state it is left in.
    @discardableResult
    public func noticeFailed(id: Int64, owner: String, error: String, permanent: Bool) throws -> Notice.State {
        try writer.write { db in
            try db.execute(sql: """
                UPDATE notices SET state = CASE WHEN ? OR attempts >= ? THEN 'failed' ELSE 'pending' END,
                                   last_error = ?, claimed_by = NULL, claimed_at = NULL
                WHERE id = ? AND claimed_by = ?
                """, arguments: [permanent, Self.noticeMaxAttempts, error, id, owner])
            let state = try String.fetchOne(db, sql: "SELECT state FROM notices WHERE id = ?", arguments: [id])
            return state.flatMap(Notice.State.init(rawValue:)) ?? .pending
        }
    }

    private static func notice(_ row: Row) -> Notice {
        Notice(id: row["id"], key: row["key"], kind: Notice.Kind(rawValue: row["kind"]) ?? .failureSummary,
               campaignID: row["campaign_id"], detail: row["detail"],
               state: Notice.State(rawValue: row["state"]) ?? .pending, mailFrom: row["mail_from"], rcptTo: row["rcpt_to"],
               messageID: row["message_id"], message: (row["message"] as Data?).map { [UInt8]($0) },
               attempts: row["attempts"], lastError: row["last_error"], createdAt: date(row["created_at"]),
               sentAt: (row["sent_at"] as Int64?).map(date))
    }
}
