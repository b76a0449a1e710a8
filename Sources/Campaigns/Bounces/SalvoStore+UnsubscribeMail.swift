import Foundation
import GRDB

/// What the bounce import needs of the store for unsubscribe mails. The unsubscribe
/// itself is `recordUnsubscribe`, the one place every channel records one.
extension SalvoStore {
    /// Whether a message with these bytes was imported before.
    public func bounceMessageRecorded(sha256: String) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bounce_messages WHERE sha256 = ?)", arguments: [sha256]) ?? false
        }
    }

    /// Remembers a message that is not a report (an unsubscribe mail) as imported, so
    /// importing the mailbox again counts it as already processed. `kind` is
    /// `unsubscribe` or `refused-unsubscribe`.
    public func recordImportedMessage(sha256: String, place: String, kind: String, now: Date) throws {
        try writer.write { db in
            try db.execute(sql: """
                INSERT INTO bounce_messages (sha256, place, kind, reporter, processed_at) VALUES (?, ?, ?, NULL, ?)
                ON CONFLICT (sha256) DO NOTHING
                """, arguments: [sha256, place, kind, Self.seconds(now)])
        }
    }

    /// The address as Salvo mailed it and the campaign of the latest message sent to
    /// `address` (compared case-insensitively), or nil when Salvo never sent it one.
    public func latestCampaign(mailedTo address: String) throws -> (email: String, campaign: String)? {
        try writer.read { db in
            try Row.fetchOne(db, sql: """
                SELECT d.email, c.name FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                WHERE d.email = ? COLLATE NOCASE AND d.state IN ('sent', 'unknown')
                ORDER BY d.last_attempt_at DESC, d.id DESC LIMIT 1
                """, arguments: [address]).map { (email: $0[0], campaign: $0[1]) }
        }
    }
}
