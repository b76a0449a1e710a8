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
    /// When the send log is next due to be applied (SalvoStore+SendLog.swift).
    let sendLogTally = SendLogTally()

    /// How long a write waits for another process's lock unless told otherwise: longer
    /// than an import, a backup or a `VACUUM` of a large list hold it here.
    public static let defaultLockWait: TimeInterval = 90

    /// Opens the database at `path` and brings its schema up to date. With `create`, a
    /// missing file is created, readable and writable by its owner only (it holds
    /// personal data; SQLite gives the -wal and -shm files the same mode); without, a
    /// missing file is `StoreError.noDatabase`, so a command run from the wrong folder
    /// or with a mistyped `--db` leaves nothing behind. No folder is ever created.
    public init(path: String, create: Bool = true, reputationGuard: ReputationGuard? = ReputationGuard(), dailyQuota: DailyQuota? = nil,
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
            db.add(function: RecipientKey.function)
        }
        try Self.prepareFile(path, create: create)
        do {
            writer = try DatabasePool(path: path, configuration: configuration)
            try SalvoStore.migrator.migrate(writer)
        } catch let error as DatabaseError {
            throw StoreError(error, database: path)
        }
    }

    /// Runs `body`, an SQLite error it throws turned into a `StoreError` naming this
    /// database and what to do about it.
    public func explainingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw StoreError(error, database: path)
        }
    }

    /// `explainingErrors` for an asynchronous `body`.
    public func explainingErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError {
            throw StoreError(error, database: path)
        }
    }

    /// Makes sure there is a file for SQLite to open: refuses a missing one unless
    /// `create`, then creates it empty with mode 0600 (an empty file is a new database).
    private static func prepareFile(_ path: String, create: Bool) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFDIR { throw StoreError.cannotOpen(path: path, reason: "it is a folder; pass the database file with --db") }
            return
        }
        guard errno == ENOENT else {
            throw StoreError.cannotOpen(path: path, reason: String(cString: strerror(errno)) + "; check the permissions of its folder")
        }
        guard create else { throw StoreError.noDatabase(path) }
        let folder = (path as NSString).deletingLastPathComponent
        var folderInfo = stat()
        if !folder.isEmpty, stat(folder, &folderInfo) != 0 || (folderInfo.st_mode & S_IFMT) != S_IFDIR {
            throw StoreError.cannotOpen(path: path, reason: "there is no folder \(folder); create it or pass another --db")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST { return }  // another process created it meanwhile
            throw StoreError.cannotOpen(path: path, reason: String(cString: strerror(errno)) + "; check the permissions of its folder")
        }
        close(fd)
    }
}

/// A failure of the store that a user can act on.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    /// A command that only reads met no database file (it never creates one).
    case noDatabase(String)
    /// SQLite refused: the database, what went wrong and what to do, in one line.
    case database(path: String, problem: String)
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
        case .noDatabase(let path): "no database at \(path): run salvo init, or pass --db"
        case .database(let path, let problem): "database \(path): \(problem)"
        case .listNotFound(let name): "no list named '\(name)' (see `salvo lists`)"
        case .campaignNotFound(let name): "no campaign named '\(name)' (see `salvo campaign list`)"
        case .campaignExists(let name): "a campaign named '\(name)' exists already"
        }
    }
}

extension StoreError {
    /// What SQLite said, turned into what a user does about it, naming the database.
    public init(_ error: DatabaseError, database path: String) {
        let detail = error.message ?? "\(error.resultCode)"
        let problem: String
        switch error.resultCode.primaryResultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            problem = "busy: another process held its write lock for longer than Salvo waits; run the command again when it is done"
        case .SQLITE_NOTADB:
            problem = "not a SQLite database (\(detail)); pass the right file with --db"
        case .SQLITE_CORRUPT:
            problem = "damaged (\(detail)); restore a backup, or try `sqlite3 \(path) .recover`"
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN, .SQLITE_AUTH:
            problem = "cannot be opened for writing (\(detail)); check the permissions of the file and its folder"
        case .SQLITE_FULL:
            problem = "the disk is full (\(detail)); free some space and run the command again"
        case .SQLITE_IOERR:
            problem = "input/output error (\(detail)); check the disk, then run the command again"
        default:
            problem = "\(detail)"
        }
        self = .database(path: path, problem: problem)
    }
}
