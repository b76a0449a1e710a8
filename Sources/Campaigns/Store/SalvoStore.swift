import Foundation
import GRDB

/// The SQLite database that holds everything Salvo knows: lists, recipients, campaigns,
/// deliveries, attempts and the suppression list. It is the one source of truth; nothing
/// about a recipient lives only in memory across a commit.
///
/// It runs in WAL mode (through `DatabasePool`), so reports and `salvo status` read while
/// a send writes. GRDB sets `synchronous=NORMAL` with WAL: a commit survives a crash of
/// the process, which is the promise the delivered marks need.
public final class SalvoStore: Sendable {
    public let writer: any DatabaseWriter
    public let path: String
    /// Pauses a campaign whose bounce rate passes its threshold (nil: never).
    public let reputationGuard: ReputationGuard?
    /// `quota.per_day`: claims stop once this many messages went to servers today (nil: no quota).
    public let dailyQuota: DailyQuota?
    /// What "today" is for the quota; tests move it to the next day.
    public let clock: @Sendable () -> Date
    /// How long a write waits, in all, for another process's lock on the database before
    /// it fails (SalvoStore+LockWait.swift).
    public let lockWait: TimeInterval

    /// How long a write waits for another process's lock unless told otherwise: longer
    /// than an import, a backup or a `VACUUM` of a large list hold it here.
    public static let defaultLockWait: TimeInterval = 90

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String, reputationGuard: ReputationGuard? = ReputationGuard(), dailyQuota: DailyQuota? = nil,
                lockWait: TimeInterval = SalvoStore.defaultLockWait,
                clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.path = path
        self.reputationGuard = reputationGuard
        self.dailyQuota = dailyQuota
        self.lockWait = lockWait
        self.clock = clock
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout(lockWait: lockWait))
        configuration.prepareDatabase { db in
            // 16 KiB pages for a new database (an existing one keeps its own): a million-row
            // import writes a quarter of the pages, and the B-trees are a level shallower.
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // Statement journals of the many small sending/outcome transactions stay in
            // memory rather than in a temporary file created and deleted each time.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            SegmentFunctions.register(in: db)
            db.add(function: AttributeMerge.function)
        }
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            writer = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw StoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
        }
        try SalvoStore.migrator.migrate(writer)
    }
}

/// A failure of the store that a user can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case listNotFound(String)
    case campaignNotFound(String)
    case campaignExists(String)
    /// Another process held the database's write lock for longer than the store waits.
    case locked(path: String, seconds: TimeInterval, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open database \(path): \(reason)"
        case .locked(let path, let seconds, let reason):
            "database \(path) is locked by another process: gave up writing after waiting \(Int(seconds.rounded())) s (\(reason))"
        case .listNotFound(let name): "no list named '\(name)' (see `salvo lists`)"
        case .campaignNotFound(let name): "no campaign named '\(name)' (see `salvo campaign list`)"
        case .campaignExists(let name): "a campaign named '\(name)' exists already"
        }
    }
}
