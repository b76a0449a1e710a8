import Foundation
import GRDB
import MailMessage

/// A list as `salvo lists` shows it.
public struct ListSummary: Sendable, Equatable {
    public var name: String
    public var recipients: Int
    public var columns: [String]
    public var createdAt: Date

    public init(name: String, recipients: Int, columns: [String], createdAt: Date) {
        self.name = name
        self.recipients = recipients
        self.columns = columns
        self.createdAt = createdAt
    }
}

extension SalvoStore {
    public func lists() throws -> [ListSummary] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT l.name, l.columns, l.created_at,
                       (SELECT COUNT(*) FROM recipients r WHERE r.list_id = l.id AND r.address_key IS NOT NULL) AS recipients
                FROM lists l WHERE l.deleted_at IS NULL ORDER BY l.name
                """).map { row in
                ListSummary(name: row["name"], recipients: row["recipients"],
                            columns: JSONColumns.decode(row["columns"]),
                            createdAt: Date(timeIntervalSince1970: TimeInterval(row["created_at"] as Int64)))
            }
        }
    }

    /// The fields a segment or template may use for `list`: its columns and the built-ins.
    public func fields(ofList name: String) throws -> Set<String> {
        try writer.read { db in
            guard let columns = try String.fetchOne(db, sql: "SELECT columns FROM lists WHERE name = ?", arguments: [name]) else {
                throw StoreError.listNotFound(name)
            }
            return Set(JSONColumns.decode(columns)).union(SalvoStore.segmentBuiltins)
        }
    }

    /// Fields every recipient has, whatever its list's columns.
    public static let segmentBuiltins: Set<String> = ["email", "domain"]

    /// How many recipients of `list` the segment selects (all of them for nil).
    public func count(list: String, segment: String?) throws -> Int {
        let expression = try segment.map { try SegmentParser.parse($0) }
        return try writer.read { db in
            let selection = try ListSelection(list: list, expression: expression, in: db)
            let request: SQLRequest<Int> = "SELECT COUNT(*) FROM recipients r WHERE \(selection.condition)"
            return try request.fetchOne(db) ?? 0
        }
    }
}

/// The recipients of a list that a segment selects, as a SQL condition over
/// `recipients r`, and the list's columns to read their attributes with. Every field of
/// the segment must be one of the list's.
struct ListSelection {
    let listID: Int64
    let columns: [String]
    let condition: SQL

    init(list: String, expression: SegmentExpression?, in db: Database) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, columns FROM lists WHERE name = ?", arguments: [list]) else {
            throw StoreError.listNotFound(list)
        }
        listID = row["id"]
        columns = JSONColumns.decode(row["columns"])
        if let expression {
            let known = Set(columns).union(SalvoStore.segmentBuiltins)
            if let unknown = expression.fields.subtracting(known).sorted().first {
                throw SegmentFieldError(field: unknown, list: list, known: known.sorted())
            }
        }
        let segment = expression?.sql(columns: columns) ?? "1"
        // A NULL key marks a case variant merged away (SalvoStore+ListMigrations.swift).
        condition = "r.list_id = \(listID) AND r.address_key IS NOT NULL AND \(segment)"
    }
}

/// A segment names a field the list does not have: almost always a typo, and a silent
/// "matches nobody" would send a campaign to the wrong people or to none.
public struct SegmentFieldError: Error, CustomStringConvertible {
    public var field: String
    public var list: String
    public var known: [String]

    public init(field: String, list: String, known: [String]) {
        self.field = field
        self.list = list
        self.known = known
    }

    public var description: String {
        let mapped = HeaderMapping.knownFields[HeaderMapping.key(field)] ?? HeaderMapping.normalised(field)
        if mapped != field, known.contains(mapped) {
            return "segment uses '\(field)', which list '\(list)' does not have: the import stores a column '\(field)' as \(mapped); write \(mapped)"
        }
        return "segment uses '\(field)', which list '\(list)' does not have (fields: \(ImportError.listing(known)))"
    }
}

/// One recipient of a list with its attributes by column name.
public struct StoredRecipient: Sendable, Equatable {
    public var id: Int64
    public var email: String
    public var attributes: [String: String]

    public init(id: Int64, email: String, attributes: [String: String]) {
        self.id = id
        self.email = email
        self.attributes = attributes
    }
}

extension SalvoStore {
    /// A recipient of `list`: the one with address `email`, or else the first (by import
    /// order) that `segment` selects. Nil when there is none.
    public func recipient(list: String, email: String? = nil, segment: String? = nil) throws -> StoredRecipient? {
        let expression = try segment.map { try SegmentParser.parse($0) }
        return try writer.read { db in
            let selection = try ListSelection(list: list, expression: email == nil ? expression : nil, in: db)
            let request: SQLRequest<Row>
            if let email {
                let normalised = (try? EmailAddress(email).description) ?? email
                request = "SELECT id, email, attributes FROM recipients r WHERE \(selection.condition) AND r.address_key = \(RecipientKey.of(normalised))"
            } else {
                request = "SELECT id, email, attributes FROM recipients r WHERE \(selection.condition) ORDER BY r.id LIMIT 1"
            }
            guard let found = try request.fetchOne(db) else { return nil }
            return StoredRecipient(id: found["id"], email: found["email"],
                                   attributes: RecipientAttributes.decode(found["attributes"], columns: selection.columns))
        }
    }
}

/// Reads a recipient's stored attribute array back into names and values.
public enum RecipientAttributes {
    public static func decode(_ json: String?, columns: [String]) -> [String: String] {
        guard let data = json?.data(using: .utf8),
              let values = try? JSONDecoder().decode([String?].self, from: data) else { return [:] }
        var attributes: [String: String] = [:]
        for (index, value) in values.enumerated() where index < columns.count {
            if let value { attributes[columns[index]] = value }
        }
        return attributes
    }
}

extension SalvoStore {
    /// Calls `body` with every recipient of `list` that `segment` selects, in import
    /// order (for `salvo send --dry-run`, which must not change the store).
    public func forEachRecipient(list: String, segment: String?, _ body: (StoredRecipient) throws -> Void) throws {
        let expression = try segment.map { try SegmentParser.parse($0) }
        try writer.read { db in
            let selection = try ListSelection(list: list, expression: expression, in: db)
            let request: SQLRequest<Row> = "SELECT id, email, attributes FROM recipients r WHERE \(selection.condition) ORDER BY r.id"
            let cursor = try request.fetchCursor(db)
            while let found = try cursor.next() {
                try body(StoredRecipient(id: found["id"], email: found["email"],
                                         attributes: RecipientAttributes.decode(found["attributes"], columns: selection.columns)))
            }
        }
    }
}
