import Foundation
import GRDB
import GRDBSQLite
import MailMessage

/// Imports a CSV file into a list, in one transaction: an interrupted import leaves the
/// list as it was, and a bad row never stops the good ones.
///
/// The `email` column is found case-insensitively (or named with `emailColumn`); every
/// other column becomes an attribute. A recipient already in the list, or met twice in
/// the file, is updated: its attributes are merged, the new values winning, so a file
/// with fewer columns never erases what an earlier import stored.
public struct ListImport {
    public var listName: String
    public var path: String
    public var emailColumn: String?
    /// Called for every rejected row, in file order (for `--rejects FILE`).
    public var onReject: ((ImportReject) -> Void)?
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
        var report = ImportReport()
        try store.writer.write { db in
            let listID = try Self.ensureList(named: listName, columns: header.attributeNames, now: now, in: db)
            let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ?", arguments: [listID]) ?? 0
            let insert = try db.makeStatement(sql: """
                INSERT INTO recipients (list_id, email, domain, attributes, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (list_id, email) DO UPDATE SET
                    attributes = json_patch(recipients.attributes, excluded.attributes),
                    updated_at = excluded.updated_at
                """)
            var rows = RowWriter(statement: insert.sqliteStatement, listID: listID, now: now, header: header)
            var accepted = 0
            while let outcome = try reader.next() {
                switch outcome {
                case .malformed(let line, let problem):
                    reject(&report, ImportReject(line: line, email: nil, reason: problem.description))
                case .record(let line):
                    if let reason = rows.write(from: reader, into: db) {
                        let email = reader.fieldCount > header.emailIndex ? reader.field(header.emailIndex) : nil
                        reject(&report, ImportReject(line: line, email: email.map(Self.clip), reason: reason))
                    } else {
                        accepted += 1
                    }
                }
            }
            let after = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients WHERE list_id = ?", arguments: [listID]) ?? 0
            report.imported = after - before
            report.updated = accepted - report.imported
        }
        return report
    }

    private func reject(_ report: inout ImportReport, _ reject: ImportReject) {
        report.rejected += 1
        if report.rejects.count < keptRejects { report.rejects.append(reject) }
        onReject?(reject)
    }

    private static func clip(_ text: String) -> String {
        text.utf8.count <= 80 ? text : String(text.prefix(77)) + "..."
    }

    private func readHeader(_ reader: inout CSVReader) throws -> ImportHeader {
        guard let first = try reader.next() else { throw ImportError.emptyFile(path: path) }
        guard case .record = first else {
            if case .malformed(let line, let problem) = first {
                throw ImportError.badHeader(path: path, line: line, reason: problem.description)
            }
            fatalError("unreachable")
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

    static func ensureList(named name: String, columns: [String], now: Int64, in db: Database) throws -> Int64 {
        let existing = try Row.fetchOne(db, sql: "SELECT id, columns FROM lists WHERE name = ?", arguments: [name])
        guard let existing else {
            try db.execute(sql: "INSERT INTO lists (name, columns, created_at) VALUES (?, ?, ?)",
                           arguments: [name, try JSONColumns.encode(columns), now])
            return db.lastInsertedRowID
        }
        let id: Int64 = existing["id"]
        var known = JSONColumns.decode(existing["columns"])
        for column in columns where !known.contains(column) { known.append(column) }
        try db.execute(sql: "UPDATE lists SET columns = ? WHERE id = ?", arguments: [try JSONColumns.encode(known), id])
        return id
    }
}

/// The header of an import file: the column names, and which one holds the address.
struct ImportHeader {
    var names: [String]
    var emailIndex: Int
    var attributeNames: [String] {
        names.enumerated().filter { $0.offset != emailIndex }.map(\.element)
    }
}

/// Writes accepted rows through one prepared statement, binding the reader's bytes
/// directly: this loop runs a million times for a large list.
private struct RowWriter {
    let statement: SQLiteStatement
    let listID: Int64
    let now: Int64
    let header: ImportHeader
    /// `"name":` for every column, JSON-escaped once (nil for the email column).
    let keyPrefixes: [[UInt8]?]
    var json: [UInt8] = []
    var email: [UInt8] = []
    var domain: [UInt8] = []

    init(statement: SQLiteStatement, listID: Int64, now: Int64, header: ImportHeader) {
        self.statement = statement
        self.listID = listID
        self.now = now
        self.header = header
        self.keyPrefixes = header.names.enumerated().map { index, name -> [UInt8]? in
            if index == header.emailIndex { return nil }
            var bytes: [UInt8] = []
            JSONText.appendString([UInt8](name.utf8)[...], to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            return bytes
        }
        json.reserveCapacity(1024)
    }

    /// Binds and inserts the reader's current record; returns why it was rejected, if it was.
    mutating func write(from reader: borrowing CSVReader, into db: Database) -> String? {
        let count = header.names.count
        if reader.fieldCount != count {
            return "expected \(count) fields, found \(reader.fieldCount)"
        }
        // The address.
        let raw: String? = reader.withField(header.emailIndex) { bytes in
            var lower = 0, upper = bytes.count
            while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
            while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 { upper -= 1 }
            return String(validating: UnsafeBufferPointer(rebasing: bytes[lower..<upper]), as: UTF8.self)
        }
        guard let raw else { return "column '\(header.names[header.emailIndex])' is not valid UTF-8" }
        if raw.isEmpty { return "empty email" }
        let address: EmailAddress
        do { address = try EmailAddress(raw) } catch { return "invalid email '\(raw)': \(error)" }

        // The attributes, as a JSON object of strings.
        json.removeAll(keepingCapacity: true)
        json.append(UInt8(ascii: "{"))
        var first = true
        for index in 0..<count {
            guard let prefix = keyPrefixes[index] else { continue }
            let valid: Bool = reader.withField(index) { bytes in
                if !JSONText.isValidUTF8(bytes) { return false }
                if !first { json.append(UInt8(ascii: ",")) }
                first = false
                json.append(contentsOf: prefix)
                JSONText.appendString(bytes[...], to: &json)
                return true
            }
            if !valid { return "column '\(header.names[index])' is not valid UTF-8" }
        }
        json.append(UInt8(ascii: "}"))

        email.removeAll(keepingCapacity: true)
        email.append(contentsOf: address.localPart.utf8)
        email.append(UInt8(ascii: "@"))
        email.append(contentsOf: address.domain.utf8)
        domain.removeAll(keepingCapacity: true)
        domain.append(contentsOf: address.domain.utf8)

        sqlite3_reset(statement)
        sqlite3_bind_int64(statement, 1, listID)
        let rc: Int32 = email.withUnsafeBufferPointer { e in
            domain.withUnsafeBufferPointer { d in
                json.withUnsafeBufferPointer { j in
                    sqlite3_bind_text(statement, 2, UnsafeRawPointer(e.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(e.count), nil)
                    sqlite3_bind_text(statement, 3, UnsafeRawPointer(d.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(d.count), nil)
                    sqlite3_bind_text(statement, 4, UnsafeRawPointer(j.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(j.count), nil)
                    sqlite3_bind_int64(statement, 5, now)
                    sqlite3_bind_int64(statement, 6, now)
                    return sqlite3_step(statement)
                }
            }
        }
        sqlite3_clear_bindings(statement)
        if rc != SQLITE_DONE {
            return "database refused the row: \(String(cString: sqlite3_errmsg(sqlite3_db_handle(statement))))"
        }
        return nil
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
