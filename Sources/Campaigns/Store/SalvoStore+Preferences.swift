import Foundation
import GRDB

/// What the preferences page shows one address: each list it is on, and whether mail to
/// it is stopped everywhere.
public struct SubscriptionPreferences: Sendable, Equatable {
    public struct ListState: Sendable, Equatable {
        public var list: String
        /// Suppressed on this list (an unsubscribe, or `salvo suppress --list`).
        public var unsubscribed: Bool
        /// The reason of that suppression (`unsubscribe` or `manual`).
        public var reason: String?
        /// Whether the recipient may lift it themself: only their own unsubscribe.
        public var canResubscribe: Bool { unsubscribed && reason == SuppressionReason.unsubscribe.rawValue }
    }

    /// The lists, by name: those the address is on, the campaign's, and those it is
    /// suppressed on.
    public var lists: [ListState]
    /// The list of the campaign whose message led here ("this list"), nil when the
    /// store has no such campaign.
    public var campaignList: String?
    /// The reason of the global suppression, nil when there is none.
    public var globalReason: String?

    /// Only an unsubscribe from everything may be undone from the page; a bounce, a
    /// complaint or the sender's own `salvo suppress` stays.
    public var canResubscribeGlobally: Bool { globalReason == SuppressionReason.unsubscribe.rawValue }
}

/// One choice made on the preferences page.
public enum PreferenceChange: Sendable, Equatable {
    case unsubscribe(list: String)
    case resubscribe(list: String)
    case unsubscribeFromEverything
    case resubscribeToEverything
}

/// What `changePreferences` did.
public enum PreferenceResult: Sendable, Equatable {
    case changed
    /// It was so already.
    case unchanged
    /// The list is none of this address's: nothing written.
    case notOnList
    /// The suppression is not the recipient's own unsubscribe (a bounce, a complaint, a
    /// manual one): it stays.
    case notLiftable
}

/// The preferences page's reads and writes, for the address and campaign a verified
/// token names. Each change is one short write transaction, as the unsubscribes are.
extension SalvoStore {
    public func preferences(email: String, campaign: String) async throws -> SubscriptionPreferences {
        try await writer.read { db in try Self.preferences(email: email, campaign: campaign, in: db) }
    }

    static func preferences(email: String, campaign: String, in db: Database) throws -> SubscriptionPreferences {
        let campaignList = try String.fetchOne(db, sql: """
            SELECT l.name FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.name = ?
            """, arguments: [campaign])
        let rows = try Row.fetchAll(db, sql: """
            SELECT l.name, s.reason FROM lists l
            LEFT JOIN list_suppressions s ON s.list_id = l.id AND s.email = ?1
            WHERE l.id IN (SELECT list_id FROM recipients WHERE address_key = ?2)
               OR l.name = ?3 OR s.email IS NOT NULL
            ORDER BY l.name
            """, arguments: [email, RecipientKey.of(email), campaignList])
        let lists = rows.map { row in
            SubscriptionPreferences.ListState(list: row["name"], unsubscribed: (row["reason"] as String?) != nil, reason: row["reason"])
        }
        let global = try String.fetchOne(db, sql: "SELECT reason FROM suppressions WHERE email = ?", arguments: [email])
        return SubscriptionPreferences(lists: lists, campaignList: campaignList, globalReason: global)
    }

    /// Makes one change for `email`, which came to the page from `campaign`'s message.
    /// A list must be one the page shows for the address; a global suppression is lifted
    /// only when it is the address's own unsubscribe.
    public func changePreferences(email: String, campaign: String, _ change: PreferenceChange,
                                  now: Date) async throws -> PreferenceResult {
        let now = Self.seconds(now)
        return try await writer.write { db in
            let current = try Self.preferences(email: email, campaign: campaign, in: db)
            let detail = "campaign \(campaign) (preferences)"
            switch change {
            case .unsubscribe(let list), .resubscribe(let list):
                guard let state = current.lists.first(where: { $0.list == list }) else { return .notOnList }
                let listID = try Self.listID(named: list, in: db)
                if case .unsubscribe = change {
                    guard !state.unsubscribed else { return .unchanged }
                    try Self.suppress(email, listID: listID, reason: .unsubscribe, detail: detail, at: now, in: db)
                    // Leaving the list the message came from is an unsubscribe from its
                    // campaign, counted by `salvo status` beside the link's.
                    if list == current.campaignList { try Self.countPreferencesUnsubscribe(email, campaign: campaign, at: now, in: db) }
                    return .changed
                }
                guard state.unsubscribed else { return .unchanged }
                guard state.canResubscribe else { return .notLiftable }
                try db.execute(sql: "DELETE FROM list_suppressions WHERE list_id = ? AND email = ?", arguments: [listID, email])
                // The unsubscribes from this list's campaigns no longer stand.
                try db.execute(sql: """
                    UPDATE unsubscribes SET undone_at = ?1 WHERE email = ?2 AND undone_at IS NULL
                    AND campaign IN (SELECT name FROM campaigns WHERE list_id = ?3)
                    """, arguments: [now, email, listID])
                return .changed
            case .unsubscribeFromEverything:
                guard current.globalReason == nil else { return .unchanged }
                try db.execute(sql: """
                    INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, 'unsubscribe', ?, ?)
                    ON CONFLICT (email) DO NOTHING
                    """, arguments: [email, detail, now])
                try Self.countPreferencesUnsubscribe(email, campaign: campaign, at: now, in: db)
                return .changed
            case .resubscribeToEverything:
                guard current.globalReason != nil else { return .unchanged }
                guard current.canResubscribeGlobally else { return .notLiftable }
                try db.execute(sql: "DELETE FROM suppressions WHERE email = ? AND reason = 'unsubscribe'", arguments: [email])
                // Unsubscribes that only the global suppression held no longer stand; one
                // whose campaign's list still keeps the address out does.
                try db.execute(sql: """
                    UPDATE unsubscribes SET undone_at = ?1 WHERE email = ?2 AND undone_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM campaigns c JOIN list_suppressions s ON s.list_id = c.list_id
                                    WHERE c.name = unsubscribes.campaign AND s.email = ?2)
                    """, arguments: [now, email])
                return .changed
            }
        }
    }

    /// An unsubscribe made on the page, one row per address and campaign as the link's
    /// are: a repeat changes nothing, one after an undo stands again.
    private static func countPreferencesUnsubscribe(_ email: String, campaign: String, at now: Int64, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO unsubscribes (email, campaign, channel, at) VALUES (?, ?, 'preferences', ?)
            ON CONFLICT (email, campaign) DO UPDATE SET channel = excluded.channel, at = excluded.at, undone_at = NULL
            WHERE undone_at IS NOT NULL
            """, arguments: [email, campaign, now])
    }
}
