import Campaigns
import Delivery
import Foundation
import GRDB
import Logging
import PostgresNIO
import PostgresStore

/// `salvo db copy`: moves a whole database between the SQLite store and a PostgreSQL one,
/// either way: lists, recipients, campaigns, deliveries, attempts, the suppression lists,
/// bounces, notices, the daily quota, unsubscribes, test sends and tracking
/// (`CopiedTable.all`), ids kept, so every delivery still points at its recipient and
/// every token in sent mail still names its campaign.
///
/// The copy reads one snapshot of its source and writes all or nothing: into PostgreSQL
/// in one transaction, into SQLite in a new file that takes its name only once complete.
/// It is verified by counts: each table's rows in the destination against the snapshot's,
/// before the copy is kept. It refuses a destination that holds anything, and a source a
/// sender is working on (a live row in `senders`): what that sender records after the
/// snapshot would be in one database and not the other.
public enum DatabaseCopy {
    /// Rows per statement: one bound JSON array each.
    static let batchRows = 2_000

    /// What was copied: each table's rows, in copy order.
    public struct Report: Sendable, Equatable {
        public var tables: [TableCount]
        public var rows: Int { tables.reduce(0) { $0 + $1.rows } }
    }

    public struct TableCount: Sendable, Equatable {
        public var table: String
        public var rows: Int
    }

    // MARK: SQLite to PostgreSQL

    /// Copies the SQLite database of `store` into the empty PostgreSQL database at `url`
    /// (its schema brought up to date first).
    public static func copy(from store: SalvoStore, to url: PostgresURL, password: String?, now: Date = Date(),
                            logger: Logger = Logger(label: "salvo.copy")) async throws -> Report {
        // What a stopped send left in the send log belongs to the deliveries it names.
        store.settleSendLog()
        guard let pool = store.writer as? DatabasePool else {
            throw DatabaseCopyError(source: store.path, problem: "not a database file that can be read while open")
        }
        let snapshot = try store.explainingErrors { try pool.makeSnapshot() }
        let counts: [TableCount] = try store.explainingErrors {
            try snapshot.read { db in
                if let logged = try Int.fetchOne(db, sql: "SELECT count(*) FROM send_log"), logged > 0 {
                    throw DatabaseCopyError(source: store.path, problem: "\(logged) outcomes of a send are not applied yet (its send log could not be written); run salvo status once, then copy again")
                }
                let senders = try Row.fetchAll(db, sql: "SELECT owner, host, process, heartbeat_at FROM senders").map {
                    (owner: $0["owner"] as String, host: $0["host"] as String?, process: $0["process"] as String?,
                     heartbeatAt: $0["heartbeat_at"] as Int64?)
                }
                try requireNoSender(senders, source: store.path, now: now)
                return try sqliteCounts(db)
            }
        }
        try await PostgresDeliveryStore.withMigratedConnection(to: url, password: password, logger: logger) { connection in
            try await described(place: url.place, operation: "copy") {
                try await PostgresDeliveryStore.inTransaction(connection, logger: logger) {
                    try await requireEmpty(connection, place: url.place, logger: logger)
                    for table in CopiedTable.all {
                        try await copyRows(of: table, from: snapshot, to: connection, logger: logger)
                    }
                    let written = try await postgresCounts(connection, place: url.place, logger: logger)
                    try verify(expected: counts, found: written, destination: "PostgreSQL at \(url.place)")
                }
            }
        }
        return Report(tables: counts)
    }

    /// A row read for copying: its paging key and its values as one JSON object.
    private struct Keyed: Sendable {
        var key: DatabaseValue
        var json: String
    }

    /// One table's rows, a batch at a time in key order, each batch one INSERT.
    private static func copyRows(of table: CopiedTable, from snapshot: DatabaseSnapshot,
                                 to connection: PostgresConnection, logger: Logger) async throws {
        let (columns, expressions, record) = table.postgresInsert
        let insert = "INSERT INTO \(table.name) (\(columns)) SELECT \(expressions) FROM jsonb_to_recordset($1::jsonb) AS x(\(record))"
        var after: DatabaseValue?
        while true {
            let start = after
            let batch: [Keyed] = try await snapshot.read { db in
                let rows = try Row.fetchAll(db, sql: table.sqliteSelect + (start == nil ? "" : " WHERE \(table.sqliteKey) > ?")
                                                + " ORDER BY \(table.sqliteKey) LIMIT \(batchRows)",
                                            arguments: start.map { [$0] } ?? [])
                return rows.map { Keyed(key: $0[0], json: $0[1]) }
            }
            guard let last = batch.last else { break }
            var binds = PostgresBindings()
            binds.append("[" + batch.map(\.json).joined(separator: ",") + "]")
            try await connection.query(PostgresQuery(unsafeSQL: insert, binds: binds), logger: logger)
            after = last.key
            if batch.count < batchRows { break }
        }
        if table.hasSequence {
            try await connection.query(PostgresQuery(unsafeSQL: """
                SELECT setval(pg_get_serial_sequence('\(table.name)', 'id'), COALESCE((SELECT max(id) FROM \(table.name)), 1),
                              (SELECT max(id) FROM \(table.name)) IS NOT NULL)
                """), logger: logger)
        }
    }

    private static func requireEmpty(_ connection: PostgresConnection, place: String, logger: Logger) async throws {
        let held = try await postgresCounts(connection, place: place, logger: logger).filter { $0.rows > 0 }
        if !held.isEmpty {
            throw DatabaseCopyError(destination: "PostgreSQL at \(place)",
                                    problem: "it holds data already (" + held.map { "\($0.rows) \($0.table)" }.joined(separator: ", ")
                                        + "); copy into an empty database")
        }
    }

    private static func postgresCounts(_ connection: PostgresConnection, place: String, logger: Logger) async throws -> [TableCount] {
        let sql = "SELECT concat_ws(',', " + CopiedTable.all.map { "(SELECT count(*) FROM \($0.name))" }.joined(separator: ", ") + ")"
        return try await described(place: place, operation: "count rows") {
            var line = ""
            for try await text in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) {
                line = text
            }
            let counts = line.split(separator: ",").map { Int($0) ?? 0 }
            return zip(CopiedTable.all, counts).map { TableCount(table: $0.name, rows: $1) }
        }
    }

    // MARK: PostgreSQL to SQLite

    /// Copies the PostgreSQL database at `url` into a new SQLite database at `path`, which
    /// must not exist yet.
    public static func copy(from url: PostgresURL, password: String?, toSQLite path: String, now: Date = Date(),
                            logger: Logger = Logger(label: "salvo.copy")) async throws -> Report {
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            throw DatabaseCopyError(destination: path, problem: "\(file) exists; copy into a new file")
        }
        let partial = path + ".partial"
        func removePartial() {
            for file in [partial, partial + "-wal", partial + "-shm"] { try? FileManager.default.removeItem(atPath: file) }
        }
        removePartial()
        let counts: [TableCount]
        do {
            counts = try await PostgresDeliveryStore.withMigratedConnection(to: url, password: password, logger: logger) { connection in
                try await copyAll(from: connection, place: url.place, toSQLite: partial, now: now, logger: logger)
            }
        } catch {
            removePartial()
            throw error
        }
        guard rename(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            throw DatabaseCopyError(destination: path, problem: "the copy is complete in \(partial) but could not take its name: \(reason)")
        }
        return Report(tables: counts)
    }

    private static func copyAll(from connection: PostgresConnection, place: String, toSQLite partial: String, now: Date,
                                logger: Logger) async throws -> [TableCount] {
        // Released, and so closed, when this returns: before the file is renamed.
        let destination = try SalvoStore(path: partial, create: true, reputationGuard: nil)
        // One snapshot of every table, as on SQLite.
        let counts: [TableCount] = try await described(place: place, operation: "copy") {
            try await PostgresDeliveryStore.inTransaction(connection, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                                          logger: logger) {
                var senders: [(owner: String, host: String?, process: String?, heartbeatAt: Int64?)] = []
                for try await sender in try await connection.query("SELECT owner, host, process, heartbeat_at FROM senders",
                                                                   logger: logger).decode((String, String?, String?, Int64?).self) {
                    senders.append(sender)
                }
                try requireNoSender(senders, source: "PostgreSQL at \(place)", now: now)
                let counts = try await postgresCounts(connection, place: place, logger: logger)
                for table in CopiedTable.all {
                    try await copyRows(of: table, from: connection, into: destination, logger: logger)
                }
                return counts
            }
        }
        let written = try await destination.writer.read { db in try sqliteCounts(db) }
        try verify(expected: counts, found: written, destination: partial)
        try await destination.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return counts
    }

    /// One table's rows from PostgreSQL into the SQLite store, a batch at a time.
    private static func copyRows(of table: CopiedTable, from connection: PostgresConnection, into destination: SalvoStore,
                                 logger: Logger) async throws {
        var batch: [String] = []
        func flush() async throws {
            guard !batch.isEmpty else { return }
            let json = "[" + batch.joined(separator: ",") + "]"
            batch.removeAll(keepingCapacity: true)
            try await destination.writer.write { db in
                db.add(function: unhex)
                try db.execute(sql: table.sqliteInsert, arguments: [json])
            }
        }
        for try await row in try await connection.query(PostgresQuery(unsafeSQL: table.postgresSelect), logger: logger)
            .decode(String.self) {
            batch.append(row)
            if batch.count == batchRows { try await flush() }
        }
        try await flush()
    }

    /// Hex text back to bytes, for `notices.message` (SQLite before 3.41 has no `unhex`).
    private static let unhex = DatabaseFunction("salvo_copy_unhex", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for character in text.utf8 {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let first = high { bytes.append(first << 4 | nibble); high = nil } else { high = nibble }
        }
        return Data(bytes)
    }

    // MARK: Shared

    /// Refuses a source with a live sender (by the rule the stores recover claims with).
    private static func requireNoSender(_ senders: [(owner: String, host: String?, process: String?, heartbeatAt: Int64?)],
                                        source: String, now: Date) throws {
        for sender in senders where SenderProcess.isAlive(host: sender.host, process: sender.process, heartbeatAt: sender.heartbeatAt,
                                                          now: Int64(now.timeIntervalSince1970), lease: SalvoStore.senderLease) {
            throw DatabaseCopyError.senderRunning(source: source, owner: sender.owner)
        }
    }

    /// Each copied table's rows in an SQLite database.
    private static func sqliteCounts(_ db: Database) throws -> [TableCount] {
        try CopiedTable.all.map { TableCount(table: $0.name, rows: try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0.name)") ?? 0) }
    }

    private static func verify(expected: [TableCount], found: [TableCount], destination: String) throws {
        let differences = zip(expected, found).filter { $0.rows != $1.rows }
        guard differences.isEmpty else {
            throw DatabaseCopyError(destination: destination, problem: "the counts do not match, nothing was kept: "
                + differences.map { "\($0.table) \($1.rows) of \($0.rows)" }.joined(separator: ", "))
        }
    }

    /// Runs `body` on PostgreSQL's connection, its server's errors named with `operation`.
    private static func described<T>(place: String, operation: String, _ body: () async throws -> T) async throws -> T {
        try await PostgresStoreError.naming(place: place, operation: operation, body)
    }
}

/// A copy that could not be made, naming the database at fault and what to do.
public struct DatabaseCopyError: Error, CustomStringConvertible, Equatable {
    public var description: String

    init(source: String, problem: String) { description = "cannot copy from \(source): \(problem)" }
    init(destination: String, problem: String) { description = "cannot copy into \(destination): \(problem)" }

    static func senderRunning(source: String, owner: String) -> DatabaseCopyError {
        DatabaseCopyError(source: source, problem: "a sender is working on it (\(owner)); stop it, or wait for it to finish, then copy")
    }
}
