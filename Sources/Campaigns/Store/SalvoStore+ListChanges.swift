import Foundation
import GRDB
import MailMessage

/// A list a campaign still refers to cannot go: the campaign's deliveries point at its
/// recipients, and a campaign that may still send would lose its audience.
public struct ListInUseError: Error, CustomStringConvertible, Equatable {
    public var list: String
    /// The campaigns that refer to it, with their state.
    public var campaigns: [(name: String, state: String)]

    public static func == (a: ListInUseError, b: ListInUseError) -> Bool {
        a.list == b.list && a.campaigns.map(\.name) == b.campaigns.map(\.name)
    }

    public var description: String {
        let active = campaigns.filter { ["running", "scheduled", "paused"].contains($0.state) }
        let named = campaigns.map { "'\($0.name)' (\($0.state))" }.joined(separator: ", ")
        if !active.isEmpty {
            return "list '\(list)' is used by campaign \(named): cancel \(active.count == 1 ? "it" : "them") or let \(active.count == 1 ? "it" : "them") finish first"
        }
        return "list '\(list)' is used by campaign \(named), whose deliveries refer to its recipients; the list is kept"
    }
}

/// What `salvo recipients remove` did with each address it was given.
public struct RecipientRemoval: Sendable, Equatable {
    public var removed: [String] = []
    public var notInList: [String] = []
    public var invalid: [String] = []
    /// Addresses that campaigns have deliveries for: kept, with those campaigns' names.
    public var kept: [(email: String, campaigns: [String])] = []

    public static func == (a: RecipientRemoval, b: RecipientRemoval) -> Bool {
        a.removed == b.removed && a.notInList == b.notInList && a.invalid == b.invalid
            && a.kept.map(\.email) == b.kept.map(\.email) && a.kept.map(\.campaigns) == b.kept.map(\.campaigns)
    }
}

extension SalvoStore {
    /// Deletes a list and its recipients; returns how many recipients went.
    ///
    /// - Throws: `ListInUseError` naming every campaign that refers to the list (running
    ///   and scheduled ones first), `StoreError.listNotFound`.
    @discardableResult
    public func deleteList(named name: String) throws -> Int {
        try writer.write { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [name]) else {
                throw StoreError.listNotFound(name)
            }
            let users = try Row.fetchAll(db, sql: """
                SELECT name, state FROM campaigns WHERE list_id = ?
                ORDER BY state NOT IN ('running', 'scheduled', 'paused'), name
                """, arguments: [id]).map { (name: $0["name"] as String, state: $0["state"] as String) }
            if !users.isEmpty { throw ListInUseError(list: name, campaigns: users) }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ? AND address_key IS NOT NULL", arguments: [id]) ?? 0
            try db.execute(sql: "DELETE FROM recipients WHERE list_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM lists WHERE id = ?", arguments: [id])
            return count
        }
    }

    /// Renames a list; campaigns that use it follow, since they refer to it by id.
    public func renameList(_ old: String, to new: String) throws {
        let trimmed = new.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed == new, !new.contains(where: { $0.isNewline }) else {
            throw ListNameError(name: new)
        }
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
            var chunk = ""
            chunk.reserveCapacity(1 << 16)
            chunk += (["email"] + selection.columns).map(CSVField.quote).joined(separator: ",") + "\r\n"
            let request: SQLRequest<Row> = "SELECT email, attributes FROM recipients r WHERE \(selection.condition) ORDER BY r.id"
            let cursor = try request.fetchCursor(db)
            var count = 0
            let decoder = JSONDecoder()
            while let row = try cursor.next() {
                let values = (try? decoder.decode([String?].self, from: Data((row["attributes"] as String).utf8))) ?? []
                chunk += CSVField.quote(row["email"])
                for index in selection.columns.indices {
                    chunk += ","
                    if index < values.count, let value = values[index] { chunk += CSVField.quote(value) }
                }
                chunk += "\r\n"
                count += 1
                if chunk.utf8.count >= 1 << 16 {
                    try output(Data(chunk.utf8))
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            if !chunk.isEmpty { try output(Data(chunk.utf8)) }
            return count
        }
    }
}

/// A list name that cannot be used: empty, with spaces at its ends or a line break, or
/// taken.
public struct ListNameError: Error, CustomStringConvertible, Equatable {
    public var name: String
    public var exists = false
    public var description: String {
        exists ? "a list named '\(name)' exists already" : "'\(name)' cannot name a list (it must not be empty, start or end with a space, or hold a line break)"
    }
}
