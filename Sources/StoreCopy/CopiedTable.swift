/// One table that `salvo db copy` moves, as both stores hold it: its columns in the SQLite
/// store's names, and how each value changes on the way between the two.
///
/// The list is the whole of what a database knows about lists, campaigns and recipients.
/// What is left out is a running sender's state, which means nothing in another database:
/// `senders`, the shared budgets and leases, and SQLite's `send_log` (applied to the
/// deliveries before the copy reads them).
struct CopiedTable: Sendable {
    enum Kind: Sendable {
        case integer, real, text
        /// SQLite 0/1, PostgreSQL `boolean`.
        case boolean
        /// SQLite `BLOB`, PostgreSQL `bytea`; hex on the way.
        case blob
        /// JSON text on SQLite, `jsonb` on PostgreSQL.
        case json
        /// An address on a suppression list: PostgreSQL keeps them lower-cased (it compares
        /// with `lower(email)` where SQLite says `COLLATE NOCASE`).
        case address
        /// A recipient's attributes: on SQLite a JSON array aligned with its list's
        /// `columns`, on PostgreSQL a `jsonb` object by column name (the list's row is
        /// copied first, so its columns are there to translate with).
        case attributes
    }

    struct Column: Sendable {
        var name: String
        var kind: Kind
    }

    var name: String
    var columns: [Column]
    /// The SQLite column the copy pages by (`rowid`, or the key of a table without one).
    var sqliteKey = "rowid"
    /// The table's key, the order PostgreSQL's rows are read in.
    var key = "id"
    /// PostgreSQL columns the SQLite store does not have, as SQL over the copied row `x`.
    var postgresOnly: [(name: String, expression: String)] = []
    /// Whether PostgreSQL numbers its rows with a sequence (`id bigserial`), which the copy
    /// moves past the highest id it wrote.
    let hasSequence: Bool

    /// A table keyed by `key`; one that has no `id` has no sequence either.
    init(_ name: String, _ columns: [(String, Kind)], key: String = "id", sqliteKey: String = "rowid",
         postgresOnly: [(name: String, expression: String)] = []) {
        self.name = name
        self.columns = columns.map { Column(name: $0.0, kind: $0.1) }
        self.key = key
        self.sqliteKey = sqliteKey
        self.postgresOnly = postgresOnly
        hasSequence = key == "id"
    }

    /// In an order that puts every table after the tables it refers to.
    static let all: [CopiedTable] = [
        CopiedTable("lists", [("id", .integer), ("name", .text), ("columns", .json), ("created_at", .integer),
                              ("deleted_at", .integer), ("name_before_deletion", .text)]),
        CopiedTable("recipients", [("id", .integer), ("list_id", .integer), ("email", .text), ("address_key", .text),
                                   ("attributes", .attributes), ("created_at", .integer), ("updated_at", .integer)],
                    postgresOnly: [("domain", "lower(substring(x.email from '[^@]*$'))")]),
        CopiedTable("campaigns", [("id", .integer), ("name", .text), ("list_id", .integer), ("segment", .text),
                                  ("definition", .text), ("source_path", .text), ("state", .text),
                                  ("scheduled_at", .integer), ("created_at", .integer), ("started_at", .integer),
                                  ("finished_at", .integer), ("state_reason", .text), ("archived_at", .integer)]),
        CopiedTable("deliveries", [("id", .integer), ("campaign_id", .integer), ("recipient_id", .integer),
                                   ("email", .text), ("domain", .text), ("state", .text), ("attempts", .integer),
                                   ("next_attempt_at", .integer), ("last_code", .integer), ("last_enhanced_code", .text),
                                   ("last_response", .text), ("mx_host", .text), ("message_id", .text),
                                   ("first_attempt_at", .integer), ("last_attempt_at", .integer), ("claimed_by", .text),
                                   ("claimed_at", .integer), ("tls_version", .text), ("tls_verified", .boolean),
                                   ("suppressed_by", .text)]),
        CopiedTable("attempts", [("id", .integer), ("delivery_id", .integer), ("attempted_at", .integer),
                                 ("outcome", .text), ("code", .integer), ("enhanced_code", .text), ("response", .text),
                                 ("mx_host", .text), ("tls_version", .text), ("tls_verified", .boolean),
                                 ("source_address", .text)]),
        CopiedTable("suppressions", [("email", .address), ("reason", .text), ("detail", .text), ("created_at", .integer)],
                    key: "email"),
        CopiedTable("list_suppressions", [("list_id", .integer), ("email", .address), ("reason", .text),
                                          ("detail", .text), ("created_at", .integer)], key: "list_id, email"),
        CopiedTable("bounce_messages", [("sha256", .text), ("place", .text), ("kind", .text), ("reporter", .text),
                                        ("processed_at", .integer)], key: "sha256"),
        CopiedTable("bounce_events", [("id", .integer), ("message_sha256", .text), ("delivery_id", .integer),
                                      ("email", .text), ("kind", .text), ("status", .text), ("diagnostic", .text),
                                      ("remote_mta", .text), ("matched_by", .text), ("created_at", .integer)]),
        CopiedTable("notices", [("id", .integer), ("key", .text), ("kind", .text), ("campaign_id", .integer),
                                ("detail", .text), ("state", .text), ("mail_from", .text), ("rcpt_to", .text),
                                ("message_id", .text), ("message", .blob), ("attempts", .integer), ("last_error", .text),
                                ("claimed_by", .text), ("claimed_at", .integer), ("created_at", .integer),
                                ("sent_at", .integer)]),
        CopiedTable("quota_days", [("day", .text), ("used", .integer)], key: "day", sqliteKey: "day"),
        CopiedTable("unsubscribes", [("id", .integer), ("email", .address), ("campaign", .text), ("channel", .text),
                                     ("at", .integer), ("undone_at", .integer)]),
        CopiedTable("test_sends", [("id", .integer), ("campaign_id", .integer), ("recipient", .text), ("seed", .text),
                                   ("message_id", .text), ("outcome", .text), ("reply", .text), ("sent_at", .integer)]),
        CopiedTable("tracking_events", [("id", .integer), ("delivery_id", .integer), ("kind", .text),
                                        ("link_position", .integer), ("link_target", .text), ("at", .integer),
                                        ("machine", .boolean), ("machine_reason", .text)]),
    ]
}

// The SQL of each direction. Names come from the list above, never from input; values
// travel as one bound JSON array per batch.
extension CopiedTable {
    /// SQLite: one JSON object per row (`json_object`), with its paging key.
    var sqliteSelect: String {
        let fields = columns.map { column in
            switch column.kind {
            // hex(NULL) is '', not NULL.
            case .blob: "'\(column.name)', CASE WHEN \(column.name) IS NULL THEN NULL ELSE hex(\(column.name)) END"
            default: "'\(column.name)', \(column.name)"
            }
        }
        return "SELECT \(sqliteKey), json_object(\(fields.joined(separator: ", "))) FROM \(name)"
    }

    /// PostgreSQL: the insert of one batch, bound as `$1`, a JSON array of those objects.
    var postgresInsert: (columns: String, expressions: String, recordType: String) {
        var names: [String] = []
        var expressions: [String] = []
        var record: [String] = []
        for column in columns {
            names.append(column.name)
            let field = "x.\(column.name)"
            switch column.kind {
            case .integer:
                expressions.append(field); record.append("\(column.name) bigint")
            case .real:
                expressions.append(field); record.append("\(column.name) double precision")
            case .text:
                expressions.append(field); record.append("\(column.name) text")
            case .boolean:
                expressions.append("(\(field) <> 0)"); record.append("\(column.name) bigint")
            case .blob:
                expressions.append("decode(\(field), 'hex')"); record.append("\(column.name) text")
            case .json:
                expressions.append("\(field)::jsonb"); record.append("\(column.name) text")
            case .address:
                expressions.append("lower(\(field))"); record.append("\(column.name) text")
            case .attributes:
                expressions.append("""
                    COALESCE((SELECT jsonb_object_agg(c.name, a.value)
                              FROM lists l
                              CROSS JOIN LATERAL jsonb_array_elements_text(l.columns) WITH ORDINALITY AS c(name, i)
                              JOIN LATERAL jsonb_array_elements(\(field)::jsonb) WITH ORDINALITY AS a(value, j) ON a.j = c.i
                              WHERE l.id = x.list_id AND jsonb_typeof(a.value) <> 'null'), '{}'::jsonb)
                    """)
                record.append("\(column.name) text")
            }
        }
        for extra in postgresOnly {
            names.append(extra.name)
            expressions.append(extra.expression)
        }
        return (names.joined(separator: ", "), expressions.joined(separator: ", "), record.joined(separator: ", "))
    }

    /// PostgreSQL: every row as one JSON object in the SQLite store's form, in key order.
    var postgresSelect: String {
        let fields = columns.map { column -> String in
            let field = "t.\(column.name)"
            return switch column.kind {
            case .integer, .real, .text, .address: field
            case .boolean: "\(field)::int AS \(column.name)"
            case .blob: "encode(\(field), 'hex') AS \(column.name)"
            case .json: "\(field)::text AS \(column.name)"
            case .attributes: """
                (SELECT COALESCE(jsonb_agg(t.attributes -> c.name ORDER BY c.i), '[]'::jsonb)::text
                 FROM lists l CROSS JOIN LATERAL jsonb_array_elements_text(l.columns) WITH ORDINALITY AS c(name, i)
                 WHERE l.id = t.list_id) AS \(column.name)
                """
            }
        }
        return "SELECT row_to_json(s)::text FROM (SELECT \(fields.joined(separator: ", ")) FROM \(name) t ORDER BY \(key)) s"
    }

    /// SQLite: the insert of one batch, bound as a JSON array of those objects.
    var sqliteInsert: String {
        let expressions = columns.map { column -> String in
            let field = "json_extract(value, '$.\(column.name)')"
            return column.kind == .blob ? "salvo_copy_unhex(\(field))" : field
        }
        return "INSERT INTO \(name) (\(columns.map(\.name).joined(separator: ", "))) SELECT \(expressions.joined(separator: ", ")) FROM json_each(?)"
    }
}
