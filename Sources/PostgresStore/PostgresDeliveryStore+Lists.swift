import Campaigns
import Foundation
import MailMessage
import PostgresNIO

/// `salvo lists`, `salvo recipients remove` and `salvo segment count` on PostgreSQL, with
/// the SQLite store's rules (`ListStore`): a list holds one recipient per address ignoring
/// case, a recipient with a NULL key is a case variant merged away (kept for a campaign's
/// history, never counted or exported), and a segment may name only the list's fields.
extension PostgresDeliveryStore: ListStore {
    public func lists() async throws -> [ListSummary] {
        try await described("lists") {
            try await client.query("""
                SELECT l.name, l.columns::text, l.created_at,
                       (SELECT count(*) FROM recipients r WHERE r.list_id = l.id AND r.address_key IS NOT NULL)
                FROM lists l WHERE l.deleted_at IS NULL ORDER BY l.name COLLATE "C"
                """, logger: logger).decode((String, String, Int64, Int64).self).collected().map { name, columns, created, count in
                ListSummary(name: name, recipients: Int(count), columns: Self.columns(columns),
                            createdAt: Self.date(created))
            }
        }
    }

    public func renameList(_ old: String, to new: String) async throws {
        try ListNameError.check(new)
        try await transaction("renameList") { connection in
            guard try await Self.listID(named: old, on: connection, logger: logger, lock: true) != nil else {
                throw StoreError.listNotFound(old)
            }
            if old == new { return }
            if try await Self.listID(named: new, on: connection, logger: logger) != nil {
                throw ListNameError(name: new, exists: true)
            }
            try await connection.query("UPDATE lists SET name = \(new) WHERE name = \(old)", logger: logger)
        }
    }

    public func deleteList(named name: String, now: Date) async throws -> ListDeletion {
        try await transaction("deleteList") { connection in
            guard let id = try await Self.listID(named: name, on: connection, logger: logger, lock: true) else {
                throw StoreError.listNotFound(name)
            }
            let users = try await connection.query("""
                SELECT name, state FROM campaigns WHERE list_id = \(id)
                ORDER BY state NOT IN ('running', 'paused'), state NOT IN ('scheduled'), name COLLATE "C"
                """, logger: logger).decode((String, String).self).collected().map { (name: $0.0, state: $0.1) }
            let open = users.filter { !["finished", "cancelled"].contains($0.state) }
            if !open.isEmpty { throw ListInUseError(list: name, campaigns: open) }
            let count = try await connection.query(
                "SELECT count(*) FROM recipients WHERE list_id = \(id) AND address_key IS NOT NULL", logger: logger)
                .decode(Int64.self).collected().first.map(Int.init) ?? 0
            if users.isEmpty {
                try await connection.query("DELETE FROM recipients WHERE list_id = \(id)", logger: logger)
                try await connection.query("DELETE FROM lists WHERE id = \(id)", logger: logger)
                return ListDeletion(recipients: count, keptFor: [])
            }
            try await connection.query("""
                DELETE FROM recipients WHERE list_id = \(id)
                AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.recipient_id = recipients.id)
                """, logger: logger)
            // Kept for the deliveries only: no list counts, exports or mails them again.
            try await connection.query("UPDATE recipients SET address_key = NULL WHERE list_id = \(id)", logger: logger)
            var retired = "\(name) (deleted \(now.formatted(.iso8601)))"
            if try await Self.listID(named: retired, on: connection, logger: logger) != nil { retired += " #\(id)" }
            try await connection.query("""
                UPDATE lists SET name = \(retired), name_before_deletion = \(name), deleted_at = \(Self.seconds(now)) WHERE id = \(id)
                """, logger: logger)
            return ListDeletion(recipients: count, keptFor: users.map(\.name).sorted())
        }
    }

    public func removeRecipients(list: String, emails: [String]) async throws -> RecipientRemoval {
        try await transaction("removeRecipients") { connection in
            guard let listID = try await Self.listID(named: list, on: connection, logger: logger, lock: true) else {
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
                let ids = try await connection.query("""
                    SELECT id FROM recipients WHERE list_id = \(listID)
                      AND (address_key = \(key) OR (address_key IS NULL AND lower(email) = \(key)))
                    ORDER BY id
                    """, logger: logger).decode(Int64.self).collected()
                if ids.isEmpty {
                    removal.notInList.append(email)
                    continue
                }
                var campaigns: [String] = []
                for id in ids {
                    let using = try await connection.query("""
                        SELECT DISTINCT c.name COLLATE "C" FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                        WHERE d.recipient_id = \(id) ORDER BY 1
                        """, logger: logger).decode(String.self).collected()
                    if using.isEmpty {
                        try await connection.query("DELETE FROM recipients WHERE id = \(id)", logger: logger)
                    } else {
                        campaigns += using
                    }
                }
                if campaigns.isEmpty { removal.removed.append(email) } else { removal.kept.append((email, campaigns)) }
            }
            return removal
        }
    }

    public func count(list: String, segment: String?) async throws -> Int {
        try await described("count") {
            try await client.withConnection { connection in
                let sql = try await Self.selection(list: list, segment: segment, on: connection, logger: logger).sql
                return try await connection.query(PostgresQuery(
                    unsafeSQL: "SELECT count(*) FROM recipients r WHERE \(sql.condition)", binds: sql.bindings), logger: logger)
                    .decode(Int64.self).collected().first.map(Int.init) ?? 0
            }
        }
    }

    public func exportCSV(list: String, segment: String?, to output: (Data) throws -> Void) async throws -> Int {
        try await described("exportCSV") {
            let selection = try await client.withConnection { connection in
                try await Self.selection(list: list, segment: segment, on: connection, logger: logger)
            }
            var sql = selection.sql
            let id = sql.bind(selection.listID)
            // Each recipient's values aligned with the list's columns, as SQLite keeps them.
            let rows = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT r.email, (SELECT COALESCE(jsonb_agg(r.attributes -> c.name ORDER BY c.i), '[]'::jsonb)::text
                                 FROM lists l CROSS JOIN LATERAL jsonb_array_elements_text(l.columns) WITH ORDINALITY AS c(name, i)
                                 WHERE l.id = \(id))
                FROM recipients r WHERE \(sql.condition) ORDER BY r.id
                """, binds: sql.bindings), logger: logger)
            return try await withoutActuallyEscaping(output) { output in
                var export = ListExport(columns: selection.columns, output: output)
                let decoder = JSONDecoder()
                for try await (email, json) in rows.decode((String, String).self) {
                    try export.append(email: email, values: (try? decoder.decode([String?].self, from: Data(json.utf8))) ?? [])
                }
                return try export.finish()
            }
        }
    }

    public func forEachRecipient(list: String, segment: String?, _ body: (StoredRecipient) throws -> Void) async throws {
        try await described("forEachRecipient") {
            let sql = try await client.withConnection { connection in
                try await Self.selection(list: list, segment: segment, on: connection, logger: logger).sql
            }
            let rows = try await client.query(PostgresQuery(unsafeSQL: """
                SELECT r.id, r.email, r.attributes::text FROM recipients r WHERE \(sql.condition) ORDER BY r.id
                """, binds: sql.bindings), logger: logger)
            for try await (id, email, json) in rows.decode((Int64, String, String).self) {
                try body(StoredRecipient(id: id, email: email, attributes: Self.attributes(json)))
            }
        }
    }

    /// A recipient's attributes (a `jsonb` object of names and values, as text) as a
    /// dictionary: its string values, none for a missing or unreadable object.
    static func attributes(_ json: String?) -> [String: String] {
        guard let json, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [:] }
        return object.compactMapValues { $0 as? String }
    }

    /// The recipients of `list` that `segment` selects, with the list's id and columns;
    /// a segment naming a field the list lacks is `SegmentFieldError`, as on SQLite.
    static func selection(list: String, segment: String?, on connection: PostgresConnection,
                          logger: Logger) async throws -> (listID: Int64, columns: [String], sql: PostgresListSelection) {
        let expression = try segment.map { try SegmentParser.parse($0) }
        guard let (id, json) = try await connection.query("SELECT id, columns::text FROM lists WHERE name = \(list)", logger: logger)
            .decode((Int64, String).self).collected().first else { throw StoreError.listNotFound(list) }
        let columns = Self.columns(json)
        if let expression {
            let known = Set(columns).union(SalvoStore.segmentBuiltins)
            if let unknown = expression.fields.subtracting(known).sorted().first {
                throw SegmentFieldError(field: unknown, list: list, known: known.sorted())
            }
        }
        var sql = PostgresSegmentSQL()
        let condition = try sql.selection(list: id, segment: segment)
        return (id, columns, PostgresListSelection(segment: sql, condition: condition))
    }

    static func listID(named name: String, on connection: PostgresConnection, logger: Logger,
                       lock: Bool = false) async throws -> Int64? {
        let query: PostgresQuery = lock ? "SELECT id FROM lists WHERE name = \(name) FOR UPDATE"
                                        : "SELECT id FROM lists WHERE name = \(name)"
        return try await connection.query(query, logger: logger).decode(Int64.self).collected().first
    }

    /// A list's `columns` (a JSON array of names).
    static func columns(_ json: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }
}

/// A list's selection as SQL: its condition over `recipients r`, and the values it binds
/// (more may be bound after them).
struct PostgresListSelection: Sendable {
    private var segment: PostgresSegmentSQL
    let condition: String
    var bindings: PostgresBindings { segment.bindings }

    init(segment: PostgresSegmentSQL, condition: String) {
        self.segment = segment
        self.condition = condition
    }

    mutating func bind(_ value: Int64) -> String { segment.bind(value) }
    mutating func bind(_ text: String) -> String { segment.bind(text) }
}
