import Foundation
import GRDB

/// How an unsubscribe reached Salvo.
public enum UnsubscribeChannel: String, Sendable, Codable {
    /// A POST of `List-Unsubscribe=One-Click` (RFC 8058): what mailbox providers send.
    case oneClick = "one-click"
    /// The button on the page a GET of the link shows.
    case page
    /// A mail to `unsubscribe.mailto` (the List-Unsubscribe mailto), read by
    /// `salvo bounces import`.
    case mailto
    /// The preferences page (`/p/TOKEN`): the campaign's own list, or everything.
    case preferences
}

/// What `recordUnsubscribe` did.
public enum UnsubscribeResult: Sendable, Equatable {
    /// The address is suppressed now, from this request.
    case unsubscribed
    /// It had unsubscribed from this campaign already: nothing changed.
    case alreadyUnsubscribed
}

/// What `resubscribe` did.
public enum ResubscribeResult: Sendable, Equatable {
    case resubscribed
    /// No unsubscribe of this address from this campaign is open (never made, or undone).
    case nothingToUndo
    /// The undo window has passed: the unsubscribe stands.
    case tooLate
}

/// One unsubscribe, for `status` and the tests.
public struct UnsubscribeRecord: Sendable, Equatable {
    public var email: String
    public var campaign: String
    public var channel: String
    public var at: Date
    public var undoneAt: Date?

    public init(email: String, campaign: String, channel: String, at: Date, undoneAt: Date?) {
        self.email = email
        self.campaign = campaign
        self.channel = channel
        self.at = at
        self.undoneAt = undoneAt
    }
}

/// Unsubscribes that arrive through `salvo serve`: one row per address and campaign in
/// `unsubscribes`, and the address suppressed on the campaign's list with reason
/// `unsubscribe` (`list_suppressions`: campaigns on other lists still mail it; the
/// preferences page offers "unsubscribe from everything"). Each request is one short write transaction, run on GRDB's writer
/// queue (not on the server's threads), so a burst of them interleaves with a running
/// send's commits (WAL, busy timeout) instead of holding the sender off.
extension SalvoStore {
    static func registerWebMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-web: unsubscribes") { db in
            try db.execute(sql: """
                -- One row per address per campaign it unsubscribed from (through the link
                -- or the page). Repeating the request changes nothing; an undo sets
                -- undone_at and removes the suppression this row added.
                CREATE TABLE unsubscribes (
                    id INTEGER PRIMARY KEY,
                    email TEXT NOT NULL COLLATE NOCASE,
                    campaign TEXT NOT NULL,                -- the campaign's name, as the token carries it
                    channel TEXT NOT NULL,                 -- one-click | page | mailto | preferences
                    at INTEGER NOT NULL,
                    undone_at INTEGER,
                    UNIQUE (email, campaign)
                );
                CREATE INDEX unsubscribes_by_campaign ON unsubscribes(campaign);
                """)
        }
    }

    /// Suppresses `email` on the list of `campaign` for unsubscribing from it at `now`
    /// (globally when the store no longer has the campaign: an unsubscribe is never
    /// dropped). The suppression keeps an earlier reason if the address was suppressed
    /// there already; a second request for the same campaign changes nothing; a request
    /// after an undo unsubscribes again.
    public func recordUnsubscribe(email: String, campaign: String, channel: UnsubscribeChannel, now: Date) async throws -> UnsubscribeResult {
        let now = Self.seconds(now)
        return try await writer.write { db in
            guard try Self.countUnsubscribe(email, campaign: campaign, channel: channel, at: now, in: db) else {
                return .alreadyUnsubscribed
            }
            let detail = "campaign \(campaign) (\(channel.rawValue))"
            if let listID = try Int64.fetchOne(db, sql: "SELECT list_id FROM campaigns WHERE name = ?", arguments: [campaign]) {
                try Self.suppress(email, listID: listID, reason: .unsubscribe, detail: detail, at: now, in: db)
                return .unsubscribed
            }
            try db.execute(sql: """
                INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, 'unsubscribe', ?, ?)
                ON CONFLICT (email) DO NOTHING
                """, arguments: [email, detail, now])
            return .unsubscribed
        }
    }

    /// Counts an unsubscribe of `email` from `campaign` (by a link, a mail or the
    /// preferences page), one row per address and campaign: a repeat changes nothing and
    /// returns false; one after an undo stands again.
    static func countUnsubscribe(_ email: String, campaign: String, channel: UnsubscribeChannel, at now: Int64,
                                 in db: Database) throws -> Bool {
        try db.execute(sql: """
            INSERT INTO unsubscribes (email, campaign, channel, at) VALUES (?, ?, ?, ?)
            ON CONFLICT (email, campaign) DO UPDATE SET channel = excluded.channel, at = excluded.at, undone_at = NULL
            WHERE undone_at IS NOT NULL
            """, arguments: [email, campaign, channel.rawValue, now])
        return db.changesCount == 1
    }

    /// Undoes the unsubscribe of `email` from `campaign` if it was made no longer than
    /// `window` before `now`: the list suppression it added goes (one with another
    /// reason stays, and so does one that an unsubscribe from another campaign on the same
    /// list still holds). The global list is not touched: a bounce, a complaint or an
    /// "unsubscribe from everything" stands.
    public func resubscribe(email: String, campaign: String, window: TimeInterval, now: Date) async throws -> ResubscribeResult {
        let now = Self.seconds(now)
        return try await writer.write { db in
            guard let at = try Int64.fetchOne(db, sql: """
                SELECT at FROM unsubscribes WHERE email = ? AND campaign = ? AND undone_at IS NULL
                """, arguments: [email, campaign])
            else { return .nothingToUndo }
            guard now - at <= Int64(window) else { return .tooLate }
            try db.execute(sql: "UPDATE unsubscribes SET undone_at = ? WHERE email = ? AND campaign = ?",
                           arguments: [now, email, campaign])
            guard let listID = try Int64.fetchOne(db, sql: "SELECT list_id FROM campaigns WHERE name = ?", arguments: [campaign]) else {
                // The campaign is gone, so its unsubscribe was global: lift it unless
                // another campaign's unsubscribe still stands.
                try db.execute(sql: """
                    DELETE FROM suppressions WHERE email = ?1 AND reason = 'unsubscribe'
                    AND NOT EXISTS (SELECT 1 FROM unsubscribes WHERE email = ?1 AND undone_at IS NULL)
                    """, arguments: [email])
                return .resubscribed
            }
            // An unsubscribe from another campaign on the same list keeps the address out.
            try db.execute(sql: """
                DELETE FROM list_suppressions WHERE list_id = ?1 AND email = ?2 AND reason = 'unsubscribe'
                AND NOT EXISTS (SELECT 1 FROM unsubscribes u JOIN campaigns c ON c.name = u.campaign
                                WHERE u.email = ?2 AND u.undone_at IS NULL AND c.list_id = ?1)
                """, arguments: [listID, email])
            return .resubscribed
        }
    }

    /// The name of the list `campaign` mails, for the page; nil when the store has no
    /// such campaign.
    public func listName(ofCampaign campaign: String) async throws -> String? {
        try await writer.read { db in
            try String.fetchOne(db, sql: """
                SELECT coalesce(l.name_before_deletion, l.name) FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.name = ?
                """, arguments: [campaign])
        }
    }

    /// The unsubscribes from `campaign` that stand (not undone), by channel, for
    /// `salvo status`.
    public func unsubscribeCounts(campaign: String) throws -> [UnsubscribeChannel: Int] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT channel, count(*) AS n FROM unsubscribes WHERE campaign = ? AND undone_at IS NULL GROUP BY channel
                """, arguments: [campaign]).reduce(into: [:]) { counts, row in
                if let channel = UnsubscribeChannel(rawValue: row["channel"]) { counts[channel] = row["n"] }
            }
        }
    }

    /// Every unsubscribe, oldest first; `campaign` narrows it.
    public func unsubscribes(campaign: String? = nil) throws -> [UnsubscribeRecord] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT email, campaign, channel, at, undone_at FROM unsubscribes
                WHERE ?1 IS NULL OR campaign = ?1 ORDER BY at, id
                """, arguments: [campaign]).map { row in
                UnsubscribeRecord(email: row["email"], campaign: row["campaign"], channel: row["channel"],
                                  at: Self.date(row["at"]), undoneAt: (row["undone_at"] as Int64?).map(Self.date))
            }
        }
    }
}
