import Campaigns
import Foundation
import PostgresNIO

/// `salvo suppress` on PostgreSQL (`SuppressionStore`). Addresses are kept lower-cased,
/// as the claim compares them, so a list shows them so; one address in two spellings is
/// one suppression, as on SQLite.
extension PostgresDeliveryStore: SuppressionStore {
    public func suppress(_ emails: [String], reason: SuppressionReason, detail: String?, now: Date) async throws -> Int {
        let addresses = try SalvoStore.checkedAddresses(emails)
        return try await transaction("suppress") { connection in
            try await Self.suppress(addresses.map { ($0, reason) }, detail: detail, now: Self.seconds(now),
                                    on: connection, logger: logger)
        }
    }

    public func suppress(_ emails: [String], list: String, reason: SuppressionReason, detail: String?,
                         now: Date) async throws -> Int {
        let addresses = try SalvoStore.checkedAddresses(emails)
        return try await transaction("suppress") { connection in
            guard let id = try await Self.listID(named: list, on: connection, logger: logger) else {
                throw StoreError.listNotFound(list)
            }
            var added = 0
            for address in addresses {
                added += try await connection.query("""
                    INSERT INTO list_suppressions (list_id, email, reason, detail, created_at)
                    VALUES (\(id), lower(\(address)), \(reason.rawValue), \(detail), \(Self.seconds(now)))
                    ON CONFLICT (list_id, email) DO NOTHING RETURNING 1
                    """, logger: logger).decode(Int.self).collected().count
            }
            return added
        }
    }

    public func unsuppress(_ emails: [String]) async throws -> Int {
        let addresses = emails.map { $0.trimmingCharacters(in: .whitespaces) }
        return try await transaction("unsuppress") { connection in
            try await connection.query("DELETE FROM suppressions WHERE email = ANY(SELECT lower(unnest(\(addresses)::text[]))) RETURNING 1",
                                       logger: logger).decode(Int.self).collected().count
        }
    }

    public func unsuppress(_ emails: [String], list: String) async throws -> Int {
        let addresses = emails.map { $0.trimmingCharacters(in: .whitespaces) }
        return try await transaction("unsuppress") { connection in
            guard let id = try await Self.listID(named: list, on: connection, logger: logger) else {
                throw StoreError.listNotFound(list)
            }
            return try await connection.query("""
                DELETE FROM list_suppressions WHERE list_id = \(id) AND email = ANY(SELECT lower(unnest(\(addresses)::text[])))
                RETURNING 1
                """, logger: logger).decode(Int.self).collected().count
        }
    }

    public func suppressions(reason: SuppressionReason?) async throws -> [Suppression] {
        try await described("suppressions") {
            try await client.query("""
                SELECT email, reason, detail, created_at FROM suppressions
                WHERE \(reason?.rawValue)::text IS NULL OR reason = \(reason?.rawValue) ORDER BY email COLLATE "C"
                """, logger: logger).decode((String, String, String?, Int64).self).collected().map { email, reason, detail, created in
                Suppression(email: email, reason: reason, detail: detail, createdAt: Self.date(created))
            }
        }
    }

    public func listSuppressions(list: String?) async throws -> [ListSuppression] {
        try await described("listSuppressions") {
            try await client.withConnection { connection in
                if let list, try await Self.listID(named: list, on: connection, logger: logger) == nil {
                    throw StoreError.listNotFound(list)
                }
                return try await connection.query("""
                    SELECT l.name, s.email, s.reason, s.detail, s.created_at FROM list_suppressions s JOIN lists l ON l.id = s.list_id
                    WHERE \(list)::text IS NULL OR l.name = \(list) ORDER BY l.name COLLATE "C", s.email COLLATE "C"
                    """, logger: logger).decode((String, String, String, String?, Int64).self).collected()
                    .map { name, email, reason, detail, created in
                        ListSuppression(list: name, email: email, reason: reason, detail: detail, createdAt: Self.date(created))
                    }
            }
        }
    }

    public func importSuppressions(path: String, emailColumn: String?, reason: SuppressionReason,
                                   keptRejects: Int, now: Date) async throws -> SuppressionImportReport {
        let file = try SuppressionFile.read(path: path, emailColumn: emailColumn, reason: reason, keptRejects: keptRejects)
        var report = file.report
        let added = try await transaction("importSuppressions") { connection in
            try await Self.suppress(file.entries, detail: file.detail, now: Self.seconds(now), on: connection, logger: logger)
        }
        report.added = added
        report.alreadySuppressed = file.entries.count - added
        return report
    }

    /// Adds `entries` to the global list, in batches of one statement each; returns how
    /// many were new (the first of two spellings in one batch is).
    static func suppress(_ entries: [(email: String, reason: SuppressionReason)], detail: String?, now: Int64,
                         on connection: PostgresConnection, logger: Logger) async throws -> Int {
        var added = 0
        var start = 0
        while start < entries.count {
            let batch = entries[start..<min(start + 5_000, entries.count)]
            start += batch.count
            added += try await connection.query("""
                INSERT INTO suppressions (email, reason, detail, created_at)
                SELECT lower(e.email), e.reason, \(detail), \(now)
                FROM unnest(\(batch.map(\.email))::text[], \(batch.map(\.reason.rawValue))::text[]) WITH ORDINALITY AS e(email, reason, i)
                ORDER BY e.i
                ON CONFLICT (email) DO NOTHING RETURNING 1
                """, logger: logger).decode(Int.self).collected().count
        }
        return added
    }
}
