import Foundation
import GRDB
import MailMessage

/// Why an address is on the suppression list.
public enum SuppressionReason: String, Sendable, CaseIterable, Codable {
    case manual
    case hardBounce = "hard-bounce"
    case complaint
    case unsubscribe
}

/// One address no campaign will mail.
public struct Suppression: Sendable, Equatable {
    public var email: String
    /// The stored reason: one of `SuppressionReason`'s raw values.
    public var reason: String
    public var detail: String?
    public var createdAt: Date

    public init(email: String, reason: String, detail: String?, createdAt: Date) {
        self.email = email
        self.reason = reason
        self.detail = detail
        self.createdAt = createdAt
    }
}

/// What `importSuppressions` did.
public struct SuppressionImportReport: Sendable, Equatable {
    public var added = 0
    /// Addresses that were on the list already (their first reason is kept).
    public var alreadySuppressed = 0
    public var rejected = 0
    /// The first rejects, with their line numbers.
    public var rejects: [ImportReject] = []

    public var summary: String { "added \(added), already suppressed \(alreadySuppressed), rejected \(rejected)" }
}

/// The global suppression list: one table, addresses compared case-insensitively (ASCII),
/// consulted when a campaign starts and again at every claim, so an address added while
/// a campaign runs is not mailed either.
extension SalvoStore {
    /// Adds addresses; returns how many were new. An address already suppressed keeps its
    /// first reason. Each address is checked first; a bad one throws before any is added.
    @discardableResult
    public func suppress(_ emails: [String], reason: SuppressionReason, detail: String? = nil,
                         now: Date = Date()) throws -> Int {
        let addresses = try Self.checkedAddresses(emails)
        let now = Self.seconds(now)
        return try writer.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (email) DO NOTHING
                """)
            var added = 0
            for address in addresses {
                try insert.execute(arguments: [address, reason.rawValue, detail, now])
                added += db.changesCount
            }
            return added
        }
    }

    /// Each address parsed, in the form the store keeps; the first bad one throws.
    public static func checkedAddresses(_ emails: [String]) throws -> [String] {
        try emails.map { text in
            do { return try EmailAddress(text.trimmingCharacters(in: .whitespaces)).description }
            catch { throw SuppressionError.invalidAddress(text, reason: "\(error)") }
        }
    }

    /// Removes addresses (case-insensitively); returns how many were on the list.
    @discardableResult
    public func unsuppress(_ emails: [String]) throws -> Int {
        try writer.write { db in
            let delete = try db.cachedStatement(sql: "DELETE FROM suppressions WHERE email = ?")
            var removed = 0
            for email in emails {
                try delete.execute(arguments: [email.trimmingCharacters(in: .whitespaces)])
                removed += db.changesCount
            }
            return removed
        }
    }

    public func isSuppressed(_ email: String) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM suppressions WHERE email = ?)",
                              arguments: [email.trimmingCharacters(in: .whitespaces)]) ?? false
        }
    }

    /// The list, by address; `reason` narrows it.
    public func suppressions(reason: SuppressionReason? = nil) throws -> [Suppression] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT email, reason, detail, created_at FROM suppressions
                WHERE ?1 IS NULL OR reason = ?1 ORDER BY email
                """, arguments: [reason?.rawValue]).map { row in
                Suppression(email: row["email"], reason: row["reason"], detail: row["detail"],
                            createdAt: Self.date(row["created_at"]))
            }
        }
    }

    /// Imports addresses from a CSV file with a header row: the column named `email`
    /// (case-insensitively, or `emailColumn`), and an optional `reason` column holding one
    /// of the reasons (else `reason`). One transaction; bad rows are reported by line.
    public func importSuppressions(path: String, emailColumn: String? = nil, reason: SuppressionReason = .manual,
                                   keptRejects: Int = 20, now: Date = Date()) throws -> SuppressionImportReport {
        let file = try SuppressionFile.read(path: path, emailColumn: emailColumn, reason: reason, keptRejects: keptRejects)
        var report = file.report
        let now = Self.seconds(now)
        try writer.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (email) DO NOTHING
                """)
            for entry in file.entries {
                try insert.execute(arguments: [entry.email, entry.reason.rawValue, file.detail, now])
                if db.changesCount == 1 { report.added += 1 } else { report.alreadySuppressed += 1 }
            }
        }
        return report
    }
}

/// A CSV file of addresses to suppress, read and checked: its addresses (in the store's
/// form) with their reasons, in file order, and its bad rows by line. Each store adds the
/// entries and counts which were new (`SuppressionImportReport`).
public struct SuppressionFile: Sendable {
    public var entries: [(email: String, reason: SuppressionReason)] = []
    /// What the rows added are noted with: the file's name.
    public var detail: String
    /// The rejects so far; `added` and `alreadySuppressed` are the store's to count.
    public var report = SuppressionImportReport()

    public static func read(path: String, emailColumn: String?, reason: SuppressionReason,
                            keptRejects: Int) throws -> SuppressionFile {
        var reader = try CSVReader(path: path)
        guard let first = try reader.next() else { throw ImportError.emptyFile(path: path) }
        if case .malformed(let line, let problem) = first {
            throw ImportError.badHeader(path: path, line: line, reason: problem.description)
        }
        let names = (0..<reader.fieldCount).map { reader.field($0)?.trimmingCharacters(in: .whitespaces) ?? "" }
        let wanted = (emailColumn ?? "email").lowercased()
        guard let emailIndex = names.firstIndex(where: { $0.lowercased() == wanted }) else {
            throw ImportError.noEmailColumn(path: path, wanted: emailColumn ?? "email", found: names)
        }
        let reasonIndex = names.firstIndex { $0.lowercased() == "reason" }
        var file = SuppressionFile(detail: "imported from \((path as NSString).lastPathComponent)")
        func reject(_ line: Int, _ email: String?, _ why: String) {
            file.report.rejected += 1
            if file.report.rejects.count < keptRejects { file.report.rejects.append(ImportReject(line: line, email: email, reason: why)) }
        }
        while let outcome = try reader.next() {
            switch outcome {
            case .malformed(let line, let problem):
                reject(line, nil, problem.description)
            case .record(let line):
                guard reader.fieldCount == names.count else {
                    reject(line, nil, "expected \(names.count) fields, found \(reader.fieldCount)")
                    continue
                }
                guard let text = reader.field(emailIndex)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
                    reject(line, nil, "empty email")
                    continue
                }
                let address: String
                do { address = try EmailAddress(text).description } catch {
                    reject(line, text, "invalid email '\(text)': \(error)")
                    continue
                }
                var rowReason = reason
                if let reasonIndex, let value = reader.field(reasonIndex)?.trimmingCharacters(in: .whitespaces), !value.isEmpty {
                    guard let parsed = SuppressionReason(rawValue: value.lowercased()) else {
                        reject(line, text, "unknown reason '\(value)' (one of: \(SuppressionReason.allCases.map(\.rawValue).joined(separator: ", ")))")
                        continue
                    }
                    rowReason = parsed
                }
                file.entries.append((address, rowReason))
            }
        }
        return file
    }
}

public enum SuppressionError: Error, CustomStringConvertible, Equatable {
    case invalidAddress(String, reason: String)

    public var description: String {
        switch self {
        case .invalidAddress(let text, let reason): "cannot suppress '\(text)': \(reason)"
        }
    }
}
