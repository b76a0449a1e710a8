import Campaigns
import Foundation
import NIOCore
import PostgresNIO

/// `salvo import` on PostgreSQL: the file's accepted rows are streamed with COPY into a
/// temporary table, then merged into the list in one statement, all in one transaction
/// (an import that fails leaves the list as it was, as on SQLite).
///
/// The merge keeps SQLite's rules: one recipient per address ignoring case, whose first
/// spelling (in the list, else in the file) stays; the last row of the file for an address
/// gives its values, and a column the file does not have keeps what the recipient had.
extension PostgresDeliveryStore {
    public func importList(_ listImport: ListImport, now: Date) async throws -> ImportReport {
        let now = Self.seconds(now)
        let name = listImport.listName
        return try await described("import into list \(name)") {
            try await client.withConnection { connection in
                try await Self.inTransaction(connection, logger: logger) {
                    try await Self.importList(listImport, now: now, on: connection, logger: logger)
                }
            }
        }
    }

    private static func importList(_ listImport: ListImport, now: Int64, on connection: PostgresConnection,
                                   logger: Logger) async throws -> ImportReport {
        let name = listImport.listName
        // The list row is locked for the whole import: two imports into one list take turns.
        try await connection.query("""
            INSERT INTO lists (name, created_at) VALUES (\(name), \(now)) ON CONFLICT (name) DO NOTHING
            """, logger: logger)
        guard let (list, stored) = try await connection.query(
            "SELECT id, columns::text FROM lists WHERE name = \(name) FOR UPDATE", logger: logger)
            .decode((Int64, String).self).collected().first else { throw StoreError.listNotFound(name) }
        let existing = (try? JSONDecoder().decode([String].self, from: Data(stored.utf8))) ?? []
        try await connection.query("""
            CREATE TEMPORARY TABLE salvo_import_rows (line bigint NOT NULL, email text NOT NULL,
                address_key text NOT NULL, attributes text NOT NULL) ON COMMIT DROP
            """, logger: logger)
        var accepted = 0
        var report: ImportReport?
        var pendingColumns: String?
        try await connection.copyFrom(table: "salvo_import_rows", columns: ["line", "email", "address_key", "attributes"],
                                      logger: logger) { writer in
            report = try await listImport.run(existing: existing, storeColumns: { columns in
                // Stored after the rows: the connection is in COPY mode until they are in.
                pendingColumns = String(decoding: try JSONEncoder().encode(columns), as: UTF8.self)
            }, write: { batch in
                accepted += batch.rows.count
                try await writer.write(CopyText.rows(batch))
            })
        }
        guard var report else { throw StoreError.listNotFound(name) }
        if let pendingColumns {
            try await connection.query("UPDATE lists SET columns = \(pendingColumns)::jsonb WHERE id = \(list)", logger: logger)
        }
        // Counted before the merge: a row whose address is already in the list (or met
        // earlier in the file) in another spelling is merged into that recipient.
        report.merged = try await connection.query("""
            WITH first AS (SELECT DISTINCT ON (address_key) address_key, email FROM salvo_import_rows
                           ORDER BY address_key, line)
            SELECT count(*) FROM salvo_import_rows i JOIN first f USING (address_key)
            LEFT JOIN recipients r ON r.list_id = \(list) AND r.address_key = i.address_key
            WHERE COALESCE(r.email, f.email) <> i.email
            """, logger: logger).decode(Int64.self).collected().first.map(Int.init) ?? 0
        // A row PostgreSQL inserted has no deleting transaction (xmax 0); an updated one has
        // this one's: the new recipients are counted from the merge itself, not the list.
        let inserted = try await connection.query("""
            WITH columns AS (
                SELECT c.name, c.i FROM lists l
                CROSS JOIN LATERAL jsonb_array_elements_text(l.columns) WITH ORDINALITY AS c(name, i)
                WHERE l.id = \(list)
            ), first AS (
                SELECT DISTINCT ON (address_key) address_key, email FROM salvo_import_rows ORDER BY address_key, line
            ), last AS (
                SELECT DISTINCT ON (address_key) address_key, attributes::jsonb AS values FROM salvo_import_rows
                ORDER BY address_key, line DESC
            ), merged AS (
            INSERT INTO recipients (list_id, email, domain, address_key, attributes, created_at, updated_at)
            SELECT \(list), f.email, lower(substring(f.email from '[^@]*$')), f.address_key,
                   COALESCE((SELECT jsonb_object_agg(c.name, v.value)
                             FROM jsonb_array_elements(l.values) WITH ORDINALITY AS v(value, j)
                             JOIN columns c ON c.i = v.j
                             WHERE jsonb_typeof(v.value) <> 'null'), '{}'::jsonb),
                   \(now), \(now)
            FROM first f JOIN last l USING (address_key)
            ORDER BY f.address_key
            ON CONFLICT (list_id, address_key) DO UPDATE SET
                attributes = recipients.attributes || excluded.attributes,
                updated_at = excluded.updated_at
            RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted) FROM merged
            """, logger: logger).decode(Int64.self).collected().first ?? 0
        report.imported = Int(inserted)
        report.updated = accepted - report.imported
        return report
    }
}

/// COPY's text format: a row per line, fields separated by tabs, with backslash, tab,
/// newline and carriage return escaped in every field.
enum CopyText {
    static func rows(_ batch: ImportBatch) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(batch.bytes.count + batch.rows.count * 16)
        batch.bytes.withUnsafeBufferPointer { bytes in
            for row in batch.rows {
                buffer.writeString(String(row.line))
                for range in [row.email, row.key, row.attributes] {
                    buffer.writeInteger(UInt8(ascii: "\t"))
                    append(UnsafeBufferPointer(rebasing: bytes[range]), to: &buffer)
                }
                buffer.writeInteger(UInt8(ascii: "\n"))
            }
        }
        return buffer
    }

    static func append(_ field: UnsafeBufferPointer<UInt8>, to buffer: inout ByteBuffer) {
        var start = 0
        for (index, byte) in field.enumerated() {
            let escaped: UInt8
            switch byte {
            case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
            case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
            default: continue
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: field[start..<index]))
            buffer.writeInteger(UInt8(ascii: "\\"))
            buffer.writeInteger(escaped)
            start = index + 1
        }
        buffer.writeBytes(UnsafeBufferPointer(rebasing: field[start...]))
    }
}
