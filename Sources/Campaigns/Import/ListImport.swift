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
public struct ListImport {
    public var listName: String
    public var path: String
    public var emailColumn: String?
    /// Called for every rejected row, in file order (for `--rejects FILE`).
    public var onReject: ((ImportReject) -> Void)?
    /// Called after each batch with the number of rows read so far (for a progress line).
    public var onProgress: ((Int) -> Void)?
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
        let header = try readHeader(&reader)
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

            let (listID, columns) = try Self.ensureList(named: listName, columns: header.attributeNames, now: now, in: db)
            let slots = header.names.enumerated().map { index, name in
                index == header.emailIndex ? nil : columns.firstIndex(of: name)
            }
            let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ?", arguments: [listID]) ?? 0
            let insert = try db.makeStatement(sql: """
                INSERT INTO recipients (list_id, email, attributes, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (list_id, email) DO UPDATE SET
                    attributes = salvo_merge_attributes(recipients.attributes, excluded.attributes),
                    updated_at = excluded.updated_at
                """)
            var report = ImportReport()
            var accepted = 0
            let encoder = RowEncoder(header: header, slots: slots, width: columns.count)
            pipeline.start(encoder: encoder)
            var read = 0
            while let batch = pipeline.nextBatch() {
                read += batch.rows.count
                onProgress?(read)
                var rejects: [ImportReject] = []
                for row in batch.rows {
                    switch row {
                    case .rejected(let reject):
                        rejects.append(reject)
                    case .accepted(let line, let email, let attributes):
                        if let failure = Self.insert(insert.sqliteStatement, listID: listID, email: batch.bytes[email],
                                                     attributes: batch.bytes[attributes], now: now) {
                            rejects.append(ImportReject(line: line, email: String(decoding: batch.bytes[email], as: UTF8.self), reason: failure))
                        } else {
                            accepted += 1
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

    private static func insert(_ statement: SQLiteStatement, listID: Int64, email: ArraySlice<UInt8>,
                               attributes: ArraySlice<UInt8>, now: Int64) -> String? {
        sqlite3_reset(statement)
        sqlite3_bind_int64(statement, 1, listID)
        let rc: Int32 = email.withUnsafeBufferPointer { e in
            attributes.withUnsafeBufferPointer { a in
                e.withMemoryRebound(to: CChar.self) { e in
                    a.withMemoryRebound(to: CChar.self) { a in
                        // SQLITE_STATIC (nil): the bytes outlive the step that reads them.
                        sqlite3_bind_text(statement, 2, e.baseAddress, Int32(e.count), nil)
                        sqlite3_bind_text(statement, 3, a.baseAddress, Int32(a.count), nil)
                        sqlite3_bind_int64(statement, 4, now)
                        sqlite3_bind_int64(statement, 5, now)
                        return sqlite3_step(statement)
                    }
                }
            }
        }
        sqlite3_clear_bindings(statement)
        if rc != SQLITE_DONE {
            return "database refused the row: \(String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))))"
        }
        return nil
    }

    private func record(_ reject: ImportReject, in report: inout ImportReport) {
        report.rejected += 1
        if report.rejects.count < keptRejects { report.rejects.append(reject) }
        onReject?(reject)
    }

    private func readHeader(_ reader: inout CSVReader) throws -> ImportHeader {
        guard let first = try reader.next() else { throw ImportError.emptyFile(path: path) }
        if case .malformed(let line, let problem) = first {
            throw ImportError.badHeader(path: path, line: line, reason: problem.description)
        }
        var names: [String] = []
        for index in 0..<reader.fieldCount {
            guard let name = reader.field(index)?.trimmingCharacters(in: .whitespaces) else {
                throw ImportError.badHeader(path: path, line: 1, reason: "column \(index + 1) is not valid UTF-8")
            }
            if name.isEmpty {
                throw ImportError.badHeader(path: path, line: 1, reason: "column \(index + 1) has no name")
            }
            if let earlier = names.firstIndex(where: { $0.lowercased() == name.lowercased() }) {
                throw ImportError.badHeader(path: path, line: 1,
                    reason: "columns \(earlier + 1) and \(index + 1) are both named '\(name)'")
            }
            names.append(name)
        }
        let wanted = (emailColumn ?? "email").lowercased()
        guard let emailIndex = names.firstIndex(where: { $0.lowercased() == wanted }) else {
            throw ImportError.noEmailColumn(path: path, wanted: emailColumn ?? "email", found: names)
        }
        return ImportHeader(names: names, emailIndex: emailIndex)
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
        var known = JSONColumns.decode(existing["columns"])
        for column in columns where !known.contains(column) { known.append(column) }
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

    public var description: String {
        switch self {
        case .emptyFile(let path): "\(path): the file is empty (a header row with an email column is needed)"
        case .badHeader(let path, let line, let reason): "\(path):\(line): bad header row: \(reason)"
        case .noEmailColumn(let path, let wanted, let found):
            "\(path):1: no column named '\(wanted)' (columns: \(found.joined(separator: ", "))); name it with --email-column"
        }
    }
}
