import Campaigns
import Foundation
import PostgresNIO

/// The unsubscribes and the preferences page of `salvo serve` on PostgreSQL (`WebStore`),
/// with the SQLite store's rules: an unsubscribe suppresses the address on the campaign's
/// list (globally when the campaign is gone), a repeat changes nothing, an undo within
/// the window lifts only what that unsubscribe added. Addresses are kept lower-cased, as
/// the claim compares them. Each request is one short transaction; two at once for the
/// same address meet on the unique key of `unsubscribes`, and one of them finds the other's
/// row.
extension PostgresDeliveryStore {
    public func recordUnsubscribe(email: String, campaign: String, channel: UnsubscribeChannel,
                                  now: Date) async throws -> UnsubscribeResult {
        let now = Self.seconds(now)
        return try await transaction("recordUnsubscribe") { connection in
            guard try await Self.standUnsubscribe(email, campaign: campaign, channel: channel, at: now,
                                                  on: connection, logger: logger)
            else { return .alreadyUnsubscribed }
            let detail = "campaign \(campaign) (\(channel.rawValue))"
            if let listID = try await Self.listID(ofCampaign: campaign, on: connection, logger: logger) {
                try await Self.suppress(email, listID: listID, detail: detail, at: now, on: connection, logger: logger)
            } else {
                try await Self.suppressEverywhere(email, detail: detail, at: now, on: connection, logger: logger)
            }
            return .unsubscribed
        }
    }

    public func resubscribe(email: String, campaign: String, window: TimeInterval, now: Date) async throws -> ResubscribeResult {
        let now = Self.seconds(now)
        return try await transaction("resubscribe") { connection in
            guard let at = try await connection.query("""
                SELECT at FROM unsubscribes WHERE email = lower(\(email)) AND campaign = \(campaign) AND undone_at IS NULL FOR UPDATE
                """, logger: logger).decode(Int64.self).collected().first
            else { return .nothingToUndo }
            guard now - at <= Int64(window) else { return .tooLate }
            try await connection.query("""
                UPDATE unsubscribes SET undone_at = \(now) WHERE email = lower(\(email)) AND campaign = \(campaign)
                """, logger: logger)
            guard let listID = try await Self.listID(ofCampaign: campaign, on: connection, logger: logger) else {
                // The campaign is gone, so its unsubscribe was global: lifted unless
                // another campaign's unsubscribe still stands.
                try await connection.query("""
                    DELETE FROM suppressions WHERE email = lower(\(email)) AND reason = 'unsubscribe'
                    AND NOT EXISTS (SELECT 1 FROM unsubscribes WHERE email = lower(\(email)) AND undone_at IS NULL)
                    """, logger: logger)
                return .resubscribed
            }
            // An unsubscribe from another campaign on the same list keeps the address out.
            try await connection.query("""
                DELETE FROM list_suppressions WHERE list_id = \(listID) AND email = lower(\(email)) AND reason = 'unsubscribe'
                AND NOT EXISTS (SELECT 1 FROM unsubscribes u JOIN campaigns c ON c.name = u.campaign
                                WHERE u.email = lower(\(email)) AND u.undone_at IS NULL AND c.list_id = \(listID))
                """, logger: logger)
            return .resubscribed
        }
    }

    public func listName(ofCampaign campaign: String) async throws -> String? {
        try await described("listName") {
            try await withConnection("listName") { connection in
                try await connection.query("""
                    SELECT coalesce(l.name_before_deletion, l.name) FROM campaigns c JOIN lists l ON l.id = c.list_id
                    WHERE c.name = \(campaign)
                    """, logger: logger).decode(String.self).collected().first
            }
        }
    }

    public func preferences(email: String, campaign: String) async throws -> SubscriptionPreferences {
        try await described("preferences") {
            try await withConnection("preferences") { connection in
                try await Self.preferences(email: email, campaign: campaign, on: connection, logger: logger)
            }
        }
    }

    public func changePreferences(email: String, campaign: String, _ change: PreferenceChange,
                                  now: Date) async throws -> PreferenceResult {
        let now = Self.seconds(now)
        return try await transaction("changePreferences") { connection in
            let current = try await Self.preferences(email: email, campaign: campaign, on: connection, logger: logger)
            let detail = PreferenceWrite.detail(campaign: campaign)
            switch PreferenceWrite.of(change, current: current) {
            case .nothing(let result):
                return result
            case .suppressOnList(let list, let countsForCampaign):
                guard let listID = try await Self.listID(named: list, on: connection, logger: logger) else {
                    throw StoreError.listNotFound(list)
                }
                try await Self.suppress(email, listID: listID, detail: detail, at: now, on: connection, logger: logger)
                if countsForCampaign {
                    _ = try await Self.standUnsubscribe(email, campaign: campaign, channel: .preferences, at: now,
                                                        on: connection, logger: logger)
                }
            case .liftOnList(let list):
                guard let listID = try await Self.listID(named: list, on: connection, logger: logger) else {
                    throw StoreError.listNotFound(list)
                }
                try await connection.query("DELETE FROM list_suppressions WHERE list_id = \(listID) AND email = lower(\(email))",
                                           logger: logger)
                try await connection.query("""
                    UPDATE unsubscribes SET undone_at = \(now) WHERE email = lower(\(email)) AND undone_at IS NULL
                    AND campaign IN (SELECT name FROM campaigns WHERE list_id = \(listID))
                    """, logger: logger)
            case .suppressEverywhere:
                try await Self.suppressEverywhere(email, detail: detail, at: now, on: connection, logger: logger)
                _ = try await Self.standUnsubscribe(email, campaign: campaign, channel: .preferences, at: now, on: connection, logger: logger)
            case .liftEverywhere:
                try await connection.query("DELETE FROM suppressions WHERE email = lower(\(email)) AND reason = 'unsubscribe'",
                                           logger: logger)
                try await connection.query("""
                    UPDATE unsubscribes SET undone_at = \(now) WHERE email = lower(\(email)) AND undone_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM campaigns c JOIN list_suppressions s ON s.list_id = c.list_id
                                    WHERE c.name = unsubscribes.campaign AND s.email = lower(\(email)))
                    """, logger: logger)
            }
            return .changed
        }
    }

    /// The lists the page shows `email` (those it is on, the campaign's, those it is
    /// suppressed on), by name, and its global suppression.
    static func preferences(email: String, campaign: String, on connection: PostgresConnection,
                            logger: Logger) async throws -> SubscriptionPreferences {
        let campaignList = try await connection.query("""
            SELECT l.name FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.name = \(campaign)
            """, logger: logger).decode(String.self).collected().first
        let lists = try await connection.query("""
            SELECT l.name, s.reason FROM lists l
            LEFT JOIN list_suppressions s ON s.list_id = l.id AND s.email = lower(\(email))
            WHERE l.id IN (SELECT list_id FROM recipients WHERE address_key = \(RecipientKey.of(email)))
               OR l.name = \(campaignList)::text OR s.email IS NOT NULL
            ORDER BY l.name COLLATE "C"
            """, logger: logger).decode((String, String?).self).collected().map { name, reason in
            SubscriptionPreferences.ListState(list: name, unsubscribed: reason != nil, reason: reason)
        }
        let global = try await connection.query("SELECT reason FROM suppressions WHERE email = lower(\(email))", logger: logger)
            .decode(String.self).collected().first
        return SubscriptionPreferences(lists: lists, campaignList: campaignList, globalReason: global)
    }

    /// The id of the list `campaign` mails, nil when there is no such campaign.
    static func listID(ofCampaign campaign: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64? {
        try await connection.query("SELECT list_id FROM campaigns WHERE name = \(campaign)", logger: logger)
            .decode(Int64.self).collected().first
    }

    /// Suppresses `email` on one list as its own unsubscribe; an address suppressed there
    /// already keeps its first reason.
    static func suppress(_ email: String, listID: Int64, detail: String, at now: Int64,
                         on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO list_suppressions (list_id, email, reason, detail, created_at)
            VALUES (\(listID), lower(\(email)), 'unsubscribe', \(detail), \(now))
            ON CONFLICT (list_id, email) DO NOTHING
            """, logger: logger)
    }

    /// Suppresses `email` globally as its own unsubscribe, unless it is suppressed already.
    static func suppressEverywhere(_ email: String, detail: String, at now: Int64,
                                   on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO suppressions (email, reason, detail, created_at) VALUES (lower(\(email)), 'unsubscribe', \(detail), \(now))
            ON CONFLICT (email) DO NOTHING
            """, logger: logger)
    }

    /// Makes the unsubscribe of `email` from `campaign` stand: one row per address and
    /// campaign, whichever channel made it. A repeat changes nothing; one after an undo
    /// stands again. Returns whether it stands from this call.
    private static func standUnsubscribe(_ email: String, campaign: String, channel: UnsubscribeChannel, at now: Int64,
                                         on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        try await !connection.query("""
            INSERT INTO unsubscribes (email, campaign, channel, at) VALUES (lower(\(email)), \(campaign), \(channel.rawValue), \(now))
            ON CONFLICT (email, campaign) DO UPDATE SET channel = excluded.channel, at = excluded.at, undone_at = NULL
            WHERE unsubscribes.undone_at IS NOT NULL
            RETURNING 1
            """, logger: logger).decode(Int.self).collected().isEmpty
    }
}
