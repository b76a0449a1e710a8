import Foundation
import GRDB
import MailMessage

/// A list a campaign may still send to cannot go: a draft, scheduled, running or paused
/// campaign would lose its audience. Once each campaign that used it is finished or
/// cancelled it can.
public struct ListInUseError: Error, CustomStringConvertible, Equatable {
    public var list: String
    /// The campaigns not yet finished or cancelled that use it, with their state.
    public var campaigns: [(name: String, state: String)]

    public init(list: String, campaigns: [(name: String, state: String)]) {
        self.list = list
        self.campaigns = campaigns
    }

    public static func == (a: ListInUseError, b: ListInUseError) -> Bool {
        a.list == b.list && a.campaigns.map(\.name) == b.campaigns.map(\.name)
    }

    public var description: String {
        let named = campaigns.map { "'\($0.name)' (\($0.state))" }.joined(separator: ", ")
        let states = Set(campaigns.map(\.state))
        var ways: [String] = []
        if !states.isDisjoint(with: ["draft", "scheduled"]) { ways.append("`salvo campaign delete` removes a draft or scheduled one") }
        if !states.isDisjoint(with: ["running", "paused"]) { ways.append("`salvo cancel` ends a running or paused one, or let it finish") }
        return "list '\(list)' is used by campaign \(named): it can be deleted once every campaign that used it is finished or cancelled"
            + (ways.isEmpty ? "" : " (\(ways.joined(separator: "; ")))")
    }
}

/// What `salvo lists delete` did.
public struct ListDeletion: Sendable, Equatable {
    /// The list's recipients when it was deleted.
    public var recipients: Int
    /// The finished or cancelled campaigns that used it: their deliveries (and so their
    /// reports) stay, and with them the recipient rows they point at, out of any list.
    public var keptFor: [String] = []

    public init(recipients: Int, keptFor: [String] = []) {
        self.recipients = recipients
        self.keptFor = keptFor
    }
}

/// What `salvo recipients remove` did with each address it was given.
public struct RecipientRemoval: Sendable, Equatable {
    public var removed: [String] = []
    public var notInList: [String] = []
    public var invalid: [String] = []
    /// Addresses that campaigns have deliveries for: kept, with those campaigns' names.
    public var kept: [(email: String, campaigns: [String])] = []

    public init() {}

    public static func == (a: RecipientRemoval, b: RecipientRemoval) -> Bool {
        a.removed == b.removed && a.notInList == b.notInList && a.invalid == b.invalid
            && a.kept.map(\.email) == b.kept.map(\.email) && a.kept.map(\.campaigns) == b.kept.map(\.campaigns)
    }
}

extension SalvoStore {
    /// Deletes a list and its recipients. A list that finished or cancelled campaigns
    /// used is retired instead of removed: those campaigns' deliveries keep pointing at
    /// the recipients they mailed (their reports and unsubscribe links stay), every
    /// other recipient goes, the list leaves `salvo lists`, and its name is free again
    /// (the retired row is renamed `NAME (deleted TIME)`, as `campaign list` shows it).
    ///
    /// - Throws: `ListInUseError` naming every draft, scheduled, running or paused
    ///   campaign that uses the list (running ones first), `StoreError.listNotFound`.
    @discardableResult
    public func deleteList(named name: String, now: Date = Date()) throws -> ListDeletion {
        try writer.write { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [name]) else {
                throw StoreError.listNotFound(name)
            }
            let users = try Row.fetchAll(db, sql: """
                SELECT name, state FROM campaigns WHERE list_id = ?
                ORDER BY state NOT IN ('running', 'paused'), state NOT IN ('scheduled'), name
                """, arguments: [id]).map { (name: $0["name"] as String, state: $0["state"] as String) }
            let open = users.filter { !["finished", "cancelled"].contains($0.state) }
            if !open.isEmpty { throw ListInUseError(list: name, campaigns: open) }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ? AND address_key IS NOT NULL", arguments: [id]) ?? 0
            if users.isEmpty {
                try db.execute(sql: "DELETE FROM recipients WHERE list_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM lists WHERE id = ?", arguments: [id])
                return ListDeletion(recipients: count)
            }
            try db.execute(sql: """
                DELETE FROM recipients WHERE list_id = ?
                AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.recipient_id = recipients.id)
                """, arguments: [id])
            // Kept for the deliveries only: no list counts, exports or mails them again.
            try db.execute(sql: "UPDATE recipients SET address_key = NULL WHERE list_id = ?", arguments: [id])
            var retired = "\(name) (deleted \(now.formatted(.iso8601)))"
            if try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [retired]) != nil { retired += " #\(id)" }
            try db.execute(sql: "UPDATE lists SET name = ?, name_before_deletion = ?, deleted_at = ? WHERE id = ?",
                           arguments: [retired, name, Int64(now.timeIntervalSince1970), id])
            return ListDeletion(recipients: count, keptFor: users.map(\.name).sorted())
        }
    }

    /// Renames a list; campaigns that use it follow, since they refer to it by id.
    public func renameList(_ old: String, to new: String) throws {
        try ListNameError.check(new)
        try writer.write { db in
            guard try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [old]) != nil else {
                throw StoreError.listNotFound(old)
            }
            if old == new { return }
            if try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [new]) != nil {
                throw ListNameError(name: new, exists: true)
            }
            try db.execute(sql: "UPDATE lists SET name = ? WHERE name = ?", arguments: [new, old])
        }
    }

    /// Takes addresses out of a list, whatever their case. An address a campaign has a
    /// delivery for stays (the delivery is that campaign's history); `salvo suppress add`
    /// is what stops mail to it.
    public func removeRecipients(list: String, emails: [String]) throws -> RecipientRemoval {
        try writer.write { db in
            guard let listID = try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [list]) else {
                throw StoreError.listNotFound(list)
            }
            var removal = RecipientRemoval()
            for email in emails {
                guard let address = try? EmailAddress(email.trimmingCharacters(in: .whitespaces)) else {
                    removal.invalid.append(email)
                    continue
                }
                let key = RecipientKey.of(address.description)
                // A merged-away variant (NULL key) goes with the address too.
                let ids = try Int64.fetchAll(db, sql: """
                    SELECT id FROM recipients WHERE list_id = ?
                      AND (address_key = ? OR (address_key IS NULL AND salvo_address_key(email) = ?))
                    """, arguments: [listID, key, key])
                if ids.isEmpty {
                    removal.notInList.append(email)
                    continue
                }
                var campaigns: [String] = []
                for id in ids {
                    let using = try String.fetchAll(db, sql: """
                        SELECT DISTINCT c.name FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                        WHERE d.recipient_id = ? ORDER BY c.name
                        """, arguments: [id])
                    if using.isEmpty {
                        try db.execute(sql: "DELETE FROM recipients WHERE id = ?", arguments: [id])
                    } else {
                        campaigns += using
                    }
                }
                if campaigns.isEmpty { removal.removed.append(email) } else { removal.kept.append((email, campaigns)) }
            }
            return removal
        }
    }

    /// Writes the recipients of `list` that `segment` selects (all for nil) as CSV, in
    /// import order, to `output` in chunks: the header `email` and the list's columns,
    /// then one row per recipient, quoted per RFC 4180 with CRLF line ends. It is the
    /// import's own format, so the file imports back into the same recipients. Values
    /// are written as stored (not defused for spreadsheets: that would change them).
    /// Returns the number of recipients written.
    @discardableResult
    public func exportCSV(list: String, segment: String?, to output: (Data) throws -> Void) throws -> Int {
        let expression = try segment.map { try SegmentParser.parse($0) }
        return try writer.read { db in
            let selection = try ListSelection(list: list, expression: expression, in: db)
            return try withoutActuallyEscaping(output) { output in
                var export = ListExport(columns: selection.columns, output: output)
                let request: SQLRequest<Row> = "SELECT email, attributes FROM recipients r WHERE \(selection.condition) ORDER BY r.id"
                let cursor = try request.fetchCursor(db)
                let decoder = JSONDecoder()
                while let row = try cursor.next() {
                    let values = (try? decoder.decode([String?].self, from: Data((row["attributes"] as String).utf8))) ?? []
                    try export.append(email: row["email"], values: values)
                }
                return try export.finish()
            }
        }
    }
}

/// A list name that cannot be used: empty, with spaces at its ends or a line break, or
/// taken.
public struct ListNameError: Error, CustomStringConvertible, Equatable {
    public var name: String
    public var exists = false

    public init(name: String, exists: Bool = false) {
        self.name = name
        self.exists = exists
    }

    public var description: String {
        exists ? "a list named '\(name)' exists already" : "'\(name)' cannot name a list (it must not be empty, start or end with a space, or hold a line break)"
    }
}
