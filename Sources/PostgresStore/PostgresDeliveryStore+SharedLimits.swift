import Delivery
import Foundation
import PostgresNIO

/// `SharedLimits` on PostgreSQL: one short transaction per call, on tables of a few rows.
///
/// The send budget is `SendBudget` (GCRA) in a row per key, read `FOR UPDATE` and written
/// back in the same transaction, so concurrent takers on any host queue on the row and
/// each sees the last one's `due`. A key never used gets a row (0, 0) first, which
/// `SendBudget` reads as a full bucket; inserting it `ON CONFLICT DO NOTHING` lets two
/// first takers race without an error.
///
/// Connection leases of a key are counted and taken under an advisory lock on the key
/// (a row lock cannot stop another owner inserting its first lease); the leases of an
/// owner presumed dead, by the rule `recoverAbandoned` uses, are not counted and are
/// deleted when seen.
extension PostgresDeliveryStore {
    /// The advisory lock namespace of lease keys: "salvo", "lease".
    static let leaseLockClass: Int32 = 0x5341_4C56 + 1

    public func takeSends(_ key: String, count: Int, rate: Rate, now: Date) async throws -> SendGrant {
        guard count > 0 else { return SendGrant(granted: 0) }
        let now = now.timeIntervalSince1970
        let (granted, retryAt): (Int, Double?) = try await enduringTransaction("takeSends") { [self] connection in
            try await connection.query("""
                INSERT INTO shared_budgets (key, due, interval) VALUES (\(key), 0, 0) ON CONFLICT (key) DO NOTHING
                """, logger: logger)
            let rows = try await connection.query("""
                SELECT due, interval FROM shared_budgets WHERE key = \(key) FOR UPDATE
                """, logger: logger).decode((Double, Double).self).collected()
            let budget = rows.first.flatMap { $0.1 > 0 ? SendBudget(due: $0.0, interval: $0.1) : nil }
            let taken = SendBudget.take(count, rate: rate, now: now, from: budget)
            if taken.budget != budget {
                try await connection.query("""
                    UPDATE shared_budgets SET due = \(taken.budget.due), interval = \(taken.budget.interval) WHERE key = \(key)
                    """, logger: logger)
            }
            return (taken.granted, taken.retryAt)
        }
        return SendGrant(granted: granted, retryAt: retryAt.map { Date(timeIntervalSince1970: $0) })
    }

    public func leaseConnection(_ key: String, limit: Int, owner: String, now: Date) async throws -> Bool {
        guard limit > 0 else { return false }
        let now = Self.seconds(now)
        return try await enduringTransaction("leaseConnection") { [self] connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.leaseLockClass), hashtext(\(key)))", logger: logger)
            let rows = try await connection.query("""
                SELECT l.owner, l.count, s.host, s.process, s.heartbeat_at
                FROM shared_leases l LEFT JOIN senders s ON s.owner = l.owner
                WHERE l.key = \(key)
                """, logger: logger).decode((String, Int64, String?, String?, Int64?).self).collected()
            var open = 0
            var gone: [String] = []
            for (holder, count, host, process, heartbeatAt) in rows {
                if holder == owner || SenderProcess.isAlive(host: host, process: process, heartbeatAt: heartbeatAt, now: now, lease: settings.senderLease) {
                    open += Int(count)
                } else {
                    gone.append(holder)
                }
            }
            if !gone.isEmpty {
                try await connection.query("DELETE FROM shared_leases WHERE owner = ANY(\(gone))", logger: logger)
            }
            guard open < limit else { return false }
            try await connection.query("""
                INSERT INTO shared_leases (key, owner, count) VALUES (\(key), \(owner), 1)
                ON CONFLICT (key, owner) DO UPDATE SET count = shared_leases.count + 1
                """, logger: logger)
            return true
        }
    }

    public func returnConnection(_ key: String, owner: String) async throws {
        try await enduringTransaction("returnConnection") { [self] connection in
            try await connection.query("""
                UPDATE shared_leases SET count = count - 1 WHERE key = \(key) AND owner = \(owner)
                """, logger: logger)
            try await connection.query("""
                DELETE FROM shared_leases WHERE key = \(key) AND owner = \(owner) AND count <= 0
                """, logger: logger)
        }
    }
}
