import Foundation
import GRDB
import GRDBSQLite
import MailMessage

/// Imports a CSV file into a list, in one transaction: an interrupted import leaves the
/// list as it was, and a bad row never stops the good ones.
///
/// The `email` column is found case-insensitively (or named with `emailColumn`); every
/// other column becomes an attribute. A recipient already in the list, or met twice in
/// the file, is updated: the values in this file win, and attributes the file does not
/// have keep what an earlier import stored.
///
/// Reading runs on its own thread and hands encoded rows to the writer in batches, so
/// parsing and checking overlap SQLite's work on the second core.
public struct ListImport: Sendable {
    public var listName: String
    public var path: String
    public var emailColumn: String?
    /// `--map 'HEADER=field'` pairs (see `HeaderMapping`).
    public var mappings: [(header: String, field: String)] = []
    /// Called for every rejected row, in file order (for `--rejects FILE`).
    public var onReject: (@Sendable (ImportReject) -> Void)?
    /// Called after each batch with the number of rows read so far (for a progress line).
    public var onProgress: (@Sendable (Int) -> Void)?
    /// How many rejects the report keeps for the summary on stderr.
    public var keptRejects = 20
    public var clock: @Sendable () -> Date = { Date() }

    public init(listName: String, path: String, emailColumn: String? = nil) {
        self.listName = listName
        self.path = path
        self.emailColumn = emailColumn
    }

    public func run(in store: SalvoStore) throws -> ImportReport {
        var reader = try CSVReader(path: path)
        let headers = try readHeader(&reader)
        let now = Int64(clock().timeIntervalSince1970)
        let pipeline = ImportPipeline(reader: reader)
        defer { pipeline.cancel() }
        return try store.writer.write { db in
            // A large list inserts into the (list_id, email) index in file order, which is
            // random: a page cache that holds most of the index keeps that in memory
            // rather than on disk. It is given back when the import ends.
            let cacheSize = try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2000
            try db.execute(sql: "PRAGMA cache_size = -65536")
            defer { try? db.execute(sql: "PRAGMA cache_size = \(cacheSize)") }

            let existing = try String.fetchOne(db, sql: "SELECT columns FROM lists WHERE name = ?", arguments: [listName])
            let (mapping, header) = try plan(headers: headers, existing: JSONColumns.decode(existing))
            let (listID, columns) = try Self.ensureList(named: listName, columns: header.attributeNames, now: now, in: db)
            let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ?", arguments: [listID]) ?? 0
            // One recipient per address ignoring case (`address_key`): a case variant of an
            // address already in the list updates it, and its first spelling stays. An
            // update leaves the connection's last insert rowid as it was set before the
            // step; only then is the spelling kept read, to count the variants merged
            // (RETURNING would cost an ephemeral table for every row: 5 times the import).
            let insert = try db.makeStatement(sql: """
                INSERT INTO recipients (list_id, email, address_key, attributes, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (list_id, address_key) DO UPDATE SET
                    attributes = salvo_merge_attributes(recipients.attributes, excluded.attributes),
                    updated_at = excluded.updated_at
                """)
            let kept = try db.makeStatement(sql: "SELECT email FROM recipients WHERE list_id = ? AND address_key = ?")
            var report = ImportReport()
            report.columns = mapping.renamed
            var accepted = 0
            pipeline.start(encoder: RowEncoder(header: header, listColumns: columns))
            var read = 0
            while let batch = pipeline.nextBatch() {
                read += batch.rows.count
                onProgress?(read)
                var rejects: [ImportReject] = []
                for row in batch.rows {
                    switch row {
                    case .rejected(let reject):
                        rejects.append(reject)
                    case .accepted(let line, let email, let key, let attributes):
                        switch Self.insert(insert.sqliteStatement, kept: kept.sqliteStatement, listID: listID, email: batch.bytes[email],
                                           key: batch.bytes[key], attributes: batch.bytes[attributes], now: now) {
                        case .failure(let failure):
                            rejects.append(ImportReject(line: line, email: String(decoding: batch.bytes[email], as: UTF8.self), reason: failure.reason))
                        case .success(let merged):
                            accepted += 1
                            if merged { report.merged += 1 }
                        }
                    }
                }
                // Reported in file order, whichever stage refused them.
                for reject in rejects.sorted(by: { $0.line < $1.line }) { record(reject, in: &report) }
            }
            if let error = pipeline.error { throw error }
            let after = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ?", arguments: [listID]) ?? 0
            report.imported = after - before
            report.updated = accepted - report.imported
            return report
        }
    }

    /// The file's header mapped to fields (`HeaderMapping`), against the columns the list
    /// already has.
    func plan(headers: [String], existing: [String]) throws -> (HeaderMapping, ImportHeader) {
        let mapping = try HeaderMapping.map(headers: headers, explicit: mappings, emailColumn: emailColumn,
                                            existing: existing, path: path)
        return (mapping, ImportHeader(names: mapping.columns.map(\.field), emailIndex: mapping.emailIndex))
    }

    /// A list's columns after an import of `columns`: those it had, in their order, then
    /// the new ones in the file's order (attribute arrays are aligned with them).
    static func listColumns(_ known: [String], adding columns: [String]) -> [String] {
        var known = known
        var present = Set(known)
        for column in columns where present.insert(column).inserted { known.append(column) }
        return known
    }

    private struct InsertFailure: Error { var reason: String }

    /// Inserts or updates one row; success says whether it met an earlier spelling of
    /// its address that differs in case (and so was merged into it).
    private static func insert(_ statement: SQLiteStatement, kept: SQLiteStatement, listID: Int64, email: ArraySlice<UInt8>,
                               key: ArraySlice<UInt8>, attributes: ArraySlice<UInt8>, now: Int64) -> Result<Bool, InsertFailure> {
        sqlite3_reset(statement)
        sqlite3_bind_int64(statement, 1, listID)
        var merged = false
        let connection = sqlite3_db_handle(statement)
        let rc: Int32 = email.withUnsafeBufferPointer { e in
            key.withUnsafeBufferPointer { k in
                attributes.withUnsafeBufferPointer { a in
                    // SQLITE_STATIC (nil): the bytes outlive the steps that read them.
                    sqlite3_bind_text(statement, 2, UnsafeRawPointer(e.baseAddress)?.assumingMemoryBound(to: CChar.self), Int32(e.count), nil)
                    sqlite3_bind_text(statement, 3, UnsafeRawPointer(k.baseAddress)?.assumingMemoryBound(to: CChar.self), Int32(k.count), nil)
                    sqlite3_bind_text(statement, 4, UnsafeRawPointer(a.baseAddress)?.assumingMemoryBound(to: CChar.self), Int32(a.count), nil)
                    sqlite3_bind_int64(statement, 5, now)
                    sqlite3_bind_int64(statement, 6, now)
                    // Rowids start at 1: still 0 after the step means the row was updated.
                    sqlite3_set_last_insert_rowid(connection, 0)
                    let rc = sqlite3_step(statement)
                    if rc == SQLITE_DONE, sqlite3_last_insert_rowid(connection) == 0 {
                        sqlite3_reset(kept)
                        sqlite3_bind_int64(kept, 1, listID)
                        sqlite3_bind_text(kept, 2, UnsafeRawPointer(k.baseAddress)?.assumingMemoryBound(to: CChar.self), Int32(k.count), nil)
                        if sqlite3_step(kept) == SQLITE_ROW, let text = sqlite3_column_text(kept, 0), let input = e.baseAddress {
                            let length = Int(sqlite3_column_bytes(kept, 0))
                            merged = length != e.count || memcmp(text, input, length) != 0
                        }
                        sqlite3_reset(kept)
                        sqlite3_clear_bindings(kept)
                    }
                    return rc
                }
            }
        }
        sqlite3_clear_bindings(statement)
        if rc != SQLITE_DONE {
            let reason = "database refused the row: \(String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))))"
            sqlite3_reset(statement)
            return .failure(InsertFailure(reason: reason))
        }
        return .success(merged)
    }

    func record(_ reject: ImportReject, in report: inout ImportReport) {
        report.rejected += 1
        if report.rejects.count < keptRejects { report.rejects.append(reject) }
        onReject?(reject)
    }

    /// The header's names, trimmed; each checked once against the others through a
    /// dictionary, so a header of any width is read in linear time.
    func readHeader(_ reader: inout CSVReader) throws -> [String] {
        guard let first = try reader.next() else { throw ImportError.emptyFile(path: path) }
        if case .malformed(let line, let problem) = first {
            throw ImportError.badHeader(path: path, line: line, reason: problem.description)
        }
        var names: [String] = []
        names.reserveCapacity(reader.fieldCount)
        var seen: [String: Int] = [:]
        seen.reserveCapacity(reader.fieldCount)
        for index in 0..<reader.fieldCount {
            guard let name = reader.field(index)?.trimmingCharacters(in: .whitespaces) else {
                throw ImportError.badHeader(path: path, line: 1, reason: "column \(index + 1) is not valid UTF-8")
            }
            if name.isEmpty {
                throw ImportError.badHeader(path: path, line: 1, reason: "column \(index + 1) has no name")
            }
            if let earlier = seen.updateValue(index, forKey: name.lowercased()) {
                throw ImportError.badHeader(path: path, line: 1,
                    reason: "columns \(earlier + 1) and \(index + 1) are both named '\(name)'")
            }
            names.append(name)
        }
        return names
    }

    /// Creates the list if needed and adds this file's columns to it; returns its id and
    /// all its columns, in the order attribute arrays use.
    static func ensureList(named name: String, columns: [String], now: Int64, in db: Database) throws -> (Int64, [String]) {
        let existing = try Row.fetchOne(db, sql: "SELECT id, columns FROM lists WHERE name = ?", arguments: [name])
        guard let existing else {
            try db.execute(sql: "INSERT INTO lists (name, columns, created_at) VALUES (?, ?, ?)",
                           arguments: [name, try JSONColumns.encode(columns), now])
            return (db.lastInsertedRowID, columns)
        }
        let id: Int64 = existing["id"]
        let known = Self.listColumns(JSONColumns.decode(existing["columns"]), adding: columns)
        try db.execute(sql: "UPDATE lists SET columns = ? WHERE id = ?", arguments: [try JSONColumns.encode(known), id])
        return (id, known)
    }
}

/// The header of an import file: the column names, and which one holds the address.
struct ImportHeader: Sendable {
    var names: [String]
    var emailIndex: Int
    var attributeNames: [String] {
        names.enumerated().filter { $0.offset != emailIndex }.map(\.element)
    }
}

/// The outcome of one import.
public struct ImportReport: Sendable {
    public var imported = 0
    public var updated = 0
    public var rejected = 0
    /// The first rejects, for the summary; `ListImport.onReject` sees all of them.
    public var rejects: [ImportReject] = []
    /// Rows whose address differed only in case from one already in the list or met
    /// earlier in the file: merged into that recipient, whose first spelling stays
    /// (counted among `updated`).
    public var merged = 0
    /// The columns imported under another name than their header, and why.
    public var columns: [HeaderMapping.Column] = []

    public var summary: String { "imported \(imported), updated \(updated), rejected \(rejected)" }
}

/// A row that was not imported, with the line it starts on and why.
public struct ImportReject: Sendable, Equatable {
    public var line: Int
    public var email: String?
    public var reason: String
}

public enum ImportError: Error, CustomStringConvertible {
    case emptyFile(path: String)
    case badHeader(path: String, line: Int, reason: String)
    case noEmailColumn(path: String, wanted: String, found: [String])
    /// `--map` names a header the file does not have.
    case unknownMappedColumn(path: String, header: String, found: [String])
    /// `--map` maps to a name templates and segments cannot take as it is.
    case badMappedName(header: String, field: String)
    /// Two columns would become one field.
    case duplicateField(path: String, first: Int, second: Int, field: String, headers: (String, String))

    /// A header for an error message: the first columns, not all 200,000 of them.
    static func listing(_ names: [String]) -> String {
        names.count <= 20 ? names.joined(separator: ", ") : names.prefix(20).joined(separator: ", ") + ", … (\(names.count) columns)"
    }

    public var description: String {
        switch self {
        case .emptyFile(let path): "\(path): the file is empty (a header row with an email column is needed)"
        case .badHeader(let path, let line, let reason): "\(path):\(line): bad header row: \(reason)"
        case .noEmailColumn(let path, let wanted, let found):
            "\(path):1: no column named '\(wanted)' (columns: \(Self.listing(found))); name it with --email-column"
        case .unknownMappedColumn(let path, let header, let found):
            "\(path):1: --map names a column '\(header)' the file does not have (columns: \(Self.listing(found)))"
        case .badMappedName(let header, let field):
            "--map '\(header)=\(field)': '\(field)' is not a field name (letters, digits, _ and -, not starting with a digit or -)"
        case .duplicateField(let path, let first, let second, let field, let headers):
            "\(path):1: columns \(first) ('\(headers.0)') and \(second) ('\(headers.1)') would both be imported as \(field); map one elsewhere with --map '\(headers.1)=NAME'"
        }
    }
}
