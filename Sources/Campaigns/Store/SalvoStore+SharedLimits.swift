import Delivery
import Foundation
import GRDB

/// `SharedLimits` over SQLite: one small write transaction per call, on tables of a few
/// rows (one per limit key, one per key and owner), so a send costs it a page or two.
///
/// The send budget is `TokenBucket`'s algorithm kept in the database instead of in one
/// process (`SendBudget`): a row holds the theoretical arrival time of the next send for
/// its key, and every process moves it on by one interval per send it takes. Whatever the
/// number of processes, the key's sends keep `TokenBucket`'s bound: in any window of W
/// seconds at most `burst + W × rate`, the burst being one second's share of the rate.
///
/// A connection lease counts against its key while its owner is alive by the same rule
/// `recoverAbandoned` uses (a fresh heartbeat, and on this host a running process): the
/// leases of an owner presumed dead are not counted, and are deleted when seen.
extension SalvoStore {
    public func takeSends(_ key: String, count: Int, rate: Rate, now: Date) async throws -> SendGrant {
        guard count > 0 else { return SendGrant(granted: 0) }
        let now = now.timeIntervalSince1970
        let (granted, retryAt): (Int, Double?) = try await write { db in
            let budget = try Row.fetchOne(db, sql: "SELECT due, interval FROM shared_budgets WHERE key = ?", arguments: [key])
                .map { SendBudget(due: $0["due"], interval: $0["interval"]) }
            let taken = SendBudget.take(count, rate: rate, now: now, from: budget)
            if taken.budget != budget {
                try db.execute(sql: """
                    INSERT INTO shared_budgets (key, due, interval) VALUES (?, ?, ?)
                    ON CONFLICT (key) DO UPDATE SET due = excluded.due, interval = excluded.interval
                    """, arguments: [key, taken.budget.due, taken.budget.interval])
            }
            return (taken.granted, taken.retryAt)
        }
        return SendGrant(granted: granted, retryAt: retryAt.map { Date(timeIntervalSince1970: $0) })
    }

    public func leaseConnection(_ key: String, limit: Int, owner: String, now: Date) async throws -> Bool {
        guard limit > 0 else { return false }
        let here = SenderProcess.current
        let now = Self.seconds(now)
        return try await write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT l.owner, l.count, s.host, s.process, s.heartbeat_at
                FROM shared_leases l LEFT JOIN senders s ON s.owner = l.owner
                WHERE l.key = ?
                """, arguments: [key])
            var open = 0
            var gone: [String] = []
            for row in rows {
                let holder: String = row["owner"]
                if holder == owner || SenderProcess.isAlive(host: row["host"], process: row["process"], heartbeatAt: row["heartbeat_at"],
                                                            now: now, lease: Self.senderLease, here: here) {
                    open += row["count"] as Int
                } else {
                    gone.append(holder)
                }
            }
            if !gone.isEmpty {
                try db.execute(sql: "DELETE FROM shared_leases WHERE owner IN (SELECT value FROM json_each(?))",
                               arguments: [try JSONColumns.encode(gone)])
            }
            guard open < limit else { return false }
            try db.execute(sql: """
                INSERT INTO shared_leases (key, owner, count) VALUES (?, ?, 1)
                ON CONFLICT (key, owner) DO UPDATE SET count = count + 1
                """, arguments: [key, owner])
            return true
        }
    }

    public func returnConnection(_ key: String, owner: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE shared_leases SET count = count - 1 WHERE key = ? AND owner = ?", arguments: [key, owner])
            try db.execute(sql: "DELETE FROM shared_leases WHERE key = ? AND owner = ? AND count <= 0", arguments: [key, owner])
        }
    }
}
