import Foundation
import GRDB

/// Which suppression kept a delivery from being sent.
public enum SuppressionScope: String, Sendable, Codable, CaseIterable {
    /// The address is on the global list (a bounce, a complaint, `salvo suppress`, or
    /// "unsubscribe from everything"): no campaign mails it.
    case global
    /// The address unsubscribed from the campaign's list (or `salvo suppress --list`):
    /// campaigns on other lists still mail it.
    case list
}

/// One address suppressed on one list.
public struct ListSuppression: Sendable, Equatable {
    public var list: String
    public var email: String
    /// `unsubscribe` (through a link or the preferences page) or `manual`.
    public var reason: String
    public var detail: String?
    public var createdAt: Date

    public init(list: String, email: String, reason: String, detail: String?, createdAt: Date) {
        self.list = list
        self.email = email
        self.reason = reason
        self.detail = detail
        self.createdAt = createdAt
    }
}

/// Suppression per list, beside the global list of `SalvoStore+Suppressions.swift`.
///
/// An unsubscribe from one list's mail is a wish about that list, not about every list
/// the sender keeps: the address goes on `list_suppressions` for that list, and only
/// campaigns on that list skip it. A bounce, a complaint, `salvo suppress` and
/// "unsubscribe from everything" stay global. The claim (and a campaign's start) skips an
/// address suppressed either way, and records which in `deliveries.suppressed_by`, so
/// `status` and `report` can say.
extension SalvoStore {
    static func registerListSuppressionMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-list-suppression") { db in
            try db.execute(sql: """
                -- One row per address per list it asked not to receive. Unsubscribes made
                -- before this migration stay on the global list: Salvo cannot tell now
                -- whether a person meant one list or all of them, and mails nobody who
                -- asked to stop.
                CREATE TABLE list_suppressions (
                    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
                    email TEXT NOT NULL COLLATE NOCASE,
                    reason TEXT NOT NULL,                  -- unsubscribe | manual
                    detail TEXT,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (list_id, email)
                );
                -- Which suppression a `suppressed` delivery met: global | list.
                ALTER TABLE deliveries ADD COLUMN suppressed_by TEXT;
                UPDATE deliveries SET suppressed_by = 'global' WHERE state = 'suppressed';
                -- The preferences page looks an address up on every list.
                CREATE INDEX recipients_by_address_key ON recipients(address_key);
                """)
        }
    }

    /// The SQL that names the suppression applying to a delivery's address (`global`,
    /// `list`, or NULL), for the claim and a campaign's start. `email` and `list` are the
    /// SQL expressions of the address and the campaign's list id.
    static func suppressionScopeSQL(email: String, list: String) -> String {
        """
        CASE WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.email = \(email)) THEN 'global'
             WHEN EXISTS (SELECT 1 FROM list_suppressions ls WHERE ls.list_id = \(list) AND ls.email = \(email)) THEN 'list'
        END
        """
    }

    /// Suppresses addresses on the list named `list` only; returns how many were new
    /// there. Each address is checked first; a bad one throws before any is added.
    @discardableResult
    public func suppress(_ emails: [String], list: String, reason: SuppressionReason = .manual, detail: String? = nil,
                         now: Date = Date()) throws -> Int {
        let addresses = try Self.checkedAddresses(emails)
        let now = Self.seconds(now)
        return try writer.write { db in
            let listID = try Self.listID(named: list, in: db)
            var added = 0
            for address in addresses {
                try Self.suppress(address, listID: listID, reason: reason, detail: detail, at: now, in: db)
                added += db.changesCount
            }
            return added
        }
    }

    /// Takes addresses off one list's suppressions; returns how many were on it.
    @discardableResult
    public func unsuppress(_ emails: [String], list: String) throws -> Int {
        try writer.write { db in
            let listID = try Self.listID(named: list, in: db)
            var removed = 0
            for email in emails {
                try db.execute(sql: "DELETE FROM list_suppressions WHERE list_id = ? AND email = ?",
                               arguments: [listID, email.trimmingCharacters(in: .whitespaces)])
                removed += db.changesCount
            }
            return removed
        }
    }

    /// The addresses suppressed on `list` (every list when nil), by list and address.
    public func listSuppressions(list: String? = nil) throws -> [ListSuppression] {
        try writer.read { db in
            if let list { _ = try Self.listID(named: list, in: db) }
            return try Row.fetchAll(db, sql: """
                SELECT l.name, s.email, s.reason, s.detail, s.created_at FROM list_suppressions s JOIN lists l ON l.id = s.list_id
                WHERE ?1 IS NULL OR l.name = ?1 ORDER BY l.name, s.email
                """, arguments: [list]).map { row in
                ListSuppression(list: row["name"], email: row["email"], reason: row["reason"], detail: row["detail"],
                                createdAt: Self.date(row["created_at"]))
            }
        }
    }

    /// Which suppression applies to `email` on the list named `list` now, nil for none.
    public func suppressionScope(of email: String, list: String) throws -> SuppressionScope? {
        try writer.read { db in
            let listID = try Self.listID(named: list, in: db)
            let scope = try String.fetchOne(db, sql: "SELECT " + Self.suppressionScopeSQL(email: "?1", list: "?2"),
                                            arguments: [email.trimmingCharacters(in: .whitespaces), listID])
            return scope.flatMap(SuppressionScope.init(rawValue:))
        }
    }

    static func listID(named name: String, in db: Database) throws -> Int64 {
        guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [name]) else {
            throw StoreError.listNotFound(name)
        }
        return id
    }

    /// Adds one list suppression; an address already on it keeps its first reason.
    static func suppress(_ email: String, listID: Int64, reason: SuppressionReason, detail: String?, at: Int64,
                         in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO list_suppressions (list_id, email, reason, detail, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (list_id, email) DO NOTHING
            """, arguments: [listID, email, reason.rawValue, detail, at])
    }
}

extension SalvoStore {
    /// How many of `campaign`'s deliveries each scope of suppression kept back, for
    /// `salvo status`.
    public func suppressionCounts(campaign name: String) throws -> [SuppressionScope: Int] {
        try writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            return try Row.fetchAll(db, sql: """
                SELECT suppressed_by, COUNT(*) AS n FROM deliveries
                WHERE campaign_id = ? AND state = 'suppressed' AND suppressed_by IS NOT NULL GROUP BY suppressed_by
                """, arguments: [id]).reduce(into: [:]) { counts, row in
                if let scope = SuppressionScope(rawValue: row["suppressed_by"]) { counts[scope] = row["n"] }
            }
        }
    }
}
