import Delivery
import Foundation
import GRDB

/// The send log: what a sending engine commits between two messages of a connection.
///
/// Crash safety needs one commit per message and connection: the last message's outcome
/// and the next one's `sending` mark must be on disk before the next DATA goes out. Made
/// directly in `deliveries`, that commit moves entries in three indexes and appends to
/// `attempts` and its index: about ten pages written to the WAL for a few rows. Appended
/// to `send_log` instead, it writes the log's last page.
///
/// The log is applied to `deliveries` and `attempts` in bulk (`applySendLog`): when this
/// store has logged `sendLogApplyRows` rows since it last applied it, or the first of
/// them is a second old (`SendLogTally`, kept in memory: asking the log on every commit
/// cost more than the commit's own statements), and first thing in
/// every transaction that reads or changes delivery states for a decision (claims,
/// recovery after a crash, cancel, sign-off, finishing, bounces). A crash leaves the log
/// as it was committed, and the next `recoverAbandoned` applies it before it looks for
/// deliveries in doubt: the same `sending` rows as without the log.
///
/// `salvo status` and `salvo report` fold the log themselves before they read
/// (`settleSendLog`).
extension SalvoStore {
    /// Log rows that make the next commit apply the log.
    static let sendLogApplyRows = 1024

    /// Folds what a running or stopped send has logged, so a report reads final states
    /// (`salvo status`, `salvo report`). Nothing is written when the log is empty; a
    /// database that cannot be written (a read-only copy) is read as it is.
    public func settleSendLog() {
        guard (try? writer.read({ db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM send_log)") })) == true else { return }
        try? writer.write { db in try applySendLog(in: db) }
    }

    /// Appends `outcomes` (each with its owner's claim) and `marks` to the log; returns the
    /// ids of `marks` still claimed by `owner` (a cancelled campaign's are not).
    func appendToSendLog(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                         owner: String, now: Date, in db: Database) throws -> Set<Int64> {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO send_log (delivery_id, owner, state, at, code, enhanced_code, response, mx_host, message_id,
                                  next_attempt_at, suppress, tls_version, tls_verified, source_address)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // This commit's first and last rows, for the tally.
        var first: (seq: Int64, at: Int64)?
        var last: Int64?
        func logged(at: Int64) {
            last = db.lastInsertedRowID
            if first == nil { first = (db.lastInsertedRowID, at) }
        }
        for outcome in outcomes {
            let at = Self.seconds(outcome.attemptedAt)
            try insert.execute(arguments: [
                outcome.deliveryID, owner, outcome.state.rawValue, at, outcome.code,
                outcome.enhancedCode, outcome.response, outcome.mxHost, outcome.messageID,
                outcome.nextAttemptAt.map(Self.seconds), hardBounces.contains(outcome.deliveryID),
                outcome.tlsVersion, outcome.certificateVerified, outcome.sourceAddress,
            ])
            logged(at: at)
        }
        var marked: Set<Int64> = []
        if !ids.isEmpty {
            // The mark is the log row, logged only for a delivery still claimed by
            // `owner`: one statement per id, whose change count says whether it was.
            let mark = try db.cachedStatement(sql: """
                INSERT INTO send_log (delivery_id, owner, state, at)
                SELECT id, ?, 'sending', ? FROM deliveries WHERE id = ? AND state = 'claimed' AND claimed_by = ?
                """)
            let at = Self.seconds(now)
            for id in ids {
                try mark.execute(arguments: [owner, at, id, owner])
                guard db.changesCount == 1 else { continue }
                marked.insert(id)
                logged(at: at)
            }
        }
        if sendLogTally.logged(first: first, last: last, due: Self.sendLogApplyRows, now: Self.seconds(now)) {
            try applySendLog(in: db)
        }
        return marked
    }

    /// Moves everything in the log into `deliveries` and `attempts`, in the order it was
    /// logged, and empties the log.
    func applySendLog(in db: Database) throws {
        let rows = try Row.fetchAll(db, sql: """
            SELECT seq, delivery_id, owner, state, at, code, enhanced_code, response, mx_host, message_id,
                   next_attempt_at, suppress, tls_version, tls_verified, source_address
            FROM send_log ORDER BY seq
            """)
        // Whatever this store had logged is in `rows` now (or was applied by another
        // process): the tally starts again.
        sendLogTally.applied()
        guard let last = rows.last else { return }
        // Read by position, in the SELECT's order: a read by name looks the column up,
        // lower-casing its name, for every column of every row, the hottest read there is.
        let (seq, deliveryID, ownerColumn, stateColumn, at, code, enhancedCode, response, mxHost, messageID,
             nextAttemptAt, suppress, tlsVersion, tlsVerified, sourceAddress) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
        var outcomes: [String: (outcomes: [DeliveryOutcome], hardBounces: Set<Int64>)] = [:]
        var owners: [String] = []
        var decided: Set<Int64> = []
        for row in rows {
            let state: String = row[stateColumn]
            guard state != DeliveryState.sending.rawValue, let state = DeliveryState(rawValue: state) else { continue }
            let owner: String = row[ownerColumn]
            let id: Int64 = row[deliveryID]
            decided.insert(id)
            if outcomes[owner] == nil { owners.append(owner) }
            outcomes[owner, default: ([], [])].outcomes.append(DeliveryOutcome(
                deliveryID: id, state: state, code: row[code], enhancedCode: row[enhancedCode],
                response: row[response] ?? "", mxHost: row[mxHost], messageID: row[messageID],
                attemptedAt: Self.date(row[at]), nextAttemptAt: (row[nextAttemptAt] as Int64?).map(Self.date),
                tlsVersion: row[tlsVersion], certificateVerified: row[tlsVerified], sourceAddress: row[sourceAddress]))
            if row[suppress] as Bool { outcomes[owner]?.hardBounces.insert(id) }
        }
        // A mark whose outcome is in the same batch never needs to show: the outcome
        // replaces it. Only the deliveries still on the wire become `sending`.
        let mark = try db.cachedStatement(sql: """
            UPDATE deliveries SET state = 'sending', claimed_at = ?
            WHERE id = ? AND state = 'claimed' AND claimed_by = ?
            """)
        for row in rows where row[stateColumn] as String == DeliveryState.sending.rawValue {
            let id: Int64 = row[deliveryID]
            if decided.contains(id) { continue }
            try mark.execute(arguments: [row[at] as Int64, id, row[ownerColumn] as String])
        }
        for owner in owners {
            guard let logged = outcomes[owner] else { continue }
            try record(logged.outcomes, hardBounces: logged.hardBounces, owner: owner, markedInLog: true, in: db)
        }
        try db.execute(sql: "DELETE FROM send_log WHERE seq <= ?", arguments: [last[seq] as Int64])
    }
}
