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

        public init(list: String, unsubscribed: Bool, reason: String?) {
            self.list = list
            self.unsubscribed = unsubscribed
            self.reason = reason
        }
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

    public init(lists: [ListState], campaignList: String?, globalReason: String?) {
        self.lists = lists
        self.campaignList = campaignList
        self.globalReason = globalReason
    }
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

    /// Makes one change for `email`, which came to the page from `campaign`'s message,
    /// as `PreferenceWrite.of` decides it.
    public func changePreferences(email: String, campaign: String, _ change: PreferenceChange,
                                  now: Date) async throws -> PreferenceResult {
        let now = Self.seconds(now)
        return try await writer.write { db in
            let current = try Self.preferences(email: email, campaign: campaign, in: db)
            let detail = PreferenceWrite.detail(campaign: campaign)
            switch PreferenceWrite.of(change, current: current) {
            case .nothing(let result):
                return result
            case .suppressOnList(let list, let countsForCampaign):
                try Self.suppress(email, listID: try Self.listID(named: list, in: db), reason: .unsubscribe, detail: detail, at: now, in: db)
                if countsForCampaign { _ = try Self.countUnsubscribe(email, campaign: campaign, channel: .preferences, at: now, in: db) }
            case .liftOnList(let list):
                let listID = try Self.listID(named: list, in: db)
                try db.execute(sql: "DELETE FROM list_suppressions WHERE list_id = ? AND email = ?", arguments: [listID, email])
                try db.execute(sql: """
                    UPDATE unsubscribes SET undone_at = ?1 WHERE email = ?2 AND undone_at IS NULL
                    AND campaign IN (SELECT name FROM campaigns WHERE list_id = ?3)
                    """, arguments: [now, email, listID])
            case .suppressEverywhere:
                try db.execute(sql: """
                    INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, 'unsubscribe', ?, ?)
                    ON CONFLICT (email) DO NOTHING
                    """, arguments: [email, detail, now])
                _ = try Self.countUnsubscribe(email, campaign: campaign, channel: .preferences, at: now, in: db)
            case .liftEverywhere:
                try db.execute(sql: "DELETE FROM suppressions WHERE email = ? AND reason = 'unsubscribe'", arguments: [email])
                try db.execute(sql: """
                    UPDATE unsubscribes SET undone_at = ?1 WHERE email = ?2 AND undone_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM campaigns c JOIN list_suppressions s ON s.list_id = c.list_id
                                    WHERE c.name = unsubscribes.campaign AND s.email = ?2)
                    """, arguments: [now, email])
            }
            return .changed
        }
    }

}

/// What one choice on the preferences page writes, decided from the address's state
/// before it: the rules of both stores, in one place.
public enum PreferenceWrite: Sendable, Equatable {
    /// Nothing to write; the page is told `result`.
    case nothing(PreferenceResult)
    /// Suppress the address on `list` (reason `unsubscribe`); `countsForCampaign`: it is
    /// the list the message came from, so leaving it is an unsubscribe from the campaign,
    /// counted by `salvo status` beside the link's.
    case suppressOnList(String, countsForCampaign: Bool)
    /// Lift the address's own unsubscribe from `list`; the unsubscribes from that list's
    /// campaigns no longer stand.
    case liftOnList(String)
    /// Suppress the address globally, and count it against the campaign.
    case suppressEverywhere
    /// Lift the address's own global unsubscribe; an unsubscribe from a campaign whose
    /// list still keeps the address out stands.
    case liftEverywhere

    /// A list must be one the page shows for the address; only the address's own
    /// unsubscribe may be lifted (a bounce, a complaint, a manual suppression stays).
    public static func of(_ change: PreferenceChange, current: SubscriptionPreferences) -> PreferenceWrite {
        switch change {
        case .unsubscribe(let list):
            guard let state = current.lists.first(where: { $0.list == list }) else { return .nothing(.notOnList) }
            return state.unsubscribed ? .nothing(.unchanged) : .suppressOnList(list, countsForCampaign: list == current.campaignList)
        case .resubscribe(let list):
            guard let state = current.lists.first(where: { $0.list == list }) else { return .nothing(.notOnList) }
            guard state.unsubscribed else { return .nothing(.unchanged) }
            return state.canResubscribe ? .liftOnList(list) : .nothing(.notLiftable)
        case .unsubscribeFromEverything:
            return current.globalReason == nil ? .suppressEverywhere : .nothing(.unchanged)
        case .resubscribeToEverything:
            guard current.globalReason != nil else { return .nothing(.unchanged) }
            return current.canResubscribeGlobally ? .liftEverywhere : .nothing(.notLiftable)
        }
    }

    /// The detail a suppression made on the page carries.
    public static func detail(campaign: String) -> String { "campaign \(campaign) (preferences)" }
}
