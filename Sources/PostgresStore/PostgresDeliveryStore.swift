import Campaigns
import Delivery
import Foundation
import Logging
import _ConnectionPoolModule
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The engine's store (`DeliveryStore`, and so `SharedLimits`) on PostgreSQL, for several
/// hosts sending one campaign from one database. It keeps every rule written on
/// `DeliveryStore` as the SQLite store does, with PostgreSQL's own means: a claim locks the
/// rows it takes (`FOR UPDATE SKIP LOCKED`), so two hosts claiming at once never get the
/// same delivery and never wait for each other; every other call is one transaction over
/// a batch of ids, every value bound, never written into the SQL.
///
/// It runs over postgres-nio's pooled `PostgresClient`, whose `run()` is a task the store
/// owns: call `shutdown()` when done with it. `connect` applies the schema's migrations
/// first (`PostgresMigrations`) on one connection of its own, which also tells at once
/// whether the server is there.
public final class PostgresDeliveryStore: DeliveryStore, Sendable {
    public struct Settings: Sendable {
        /// Messages handed to servers per UTC day, nil for no quota.
        public var perDay: Int?
        /// Bounced over attempted deliveries above which a campaign pauses, nil for no guard.
        public var maxBounceRate: Double?
        /// Attempts before the guard's rate means anything.
        public var minimumAttempts: Int
        /// How long an owner may stay silent before its claims are presumed abandoned.
        public var senderLease: TimeInterval
        /// What "today" is for the quota (the engine passes the wall clock to every call;
        /// the store's day is its own, so a test can move it).
        public var clock: @Sendable () -> Date
        /// How long a call waits for a pooled connection before it fails, nil to wait until
        /// the server is back. `salvo serve` bounds it, so a link followed while the server
        /// is gone is answered 503 rather than left hanging; only the wait is bounded, never
        /// a statement that runs.
        public var connectionWait: Duration?
        /// How long the engine's calls wait for a server that has gone away (restarted,
        /// failed over, cut off) before the send ends as on any store error; nil fails
        /// them at once (`enduring`).
        public var outageWait: Duration?
        /// How long one attempt of such a call may go unanswered before it counts as the
        /// server gone (a call in flight when the connection broke may never be answered).
        public var answerWithin: Duration?

        public init(perDay: Int? = nil, maxBounceRate: Double? = nil, minimumAttempts: Int = 500,
                    senderLease: TimeInterval = 60, connectionWait: Duration? = nil, outageWait: Duration? = .seconds(300),
                    answerWithin: Duration? = .seconds(30), clock: @escaping @Sendable () -> Date = { Date() }) {
            self.perDay = perDay
            self.maxBounceRate = maxBounceRate
            self.minimumAttempts = minimumAttempts
            self.senderLease = senderLease
            self.connectionWait = connectionWait
            self.outageWait = outageWait
            self.answerWithin = answerWithin
            self.clock = clock
        }
    }

    public let url: PostgresURL
    public let settings: Settings
    /// The pool, for the commands this store does not have yet (and for tests seeding it).
    public let client: PostgresClient
    let logger: Logger
    /// The outage under way, if any, for `enduring`.
    let outage = Mutex(OutageWatch())
    private let runner: Task<Void, Never>

    private init(url: PostgresURL, settings: Settings, client: PostgresClient, logger: Logger) {
        self.url = url
        self.settings = settings
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
    }

    /// Connects to the database at `url` (with `password`, resolved by the caller from the
    /// environment: `PostgresURL.password(environment:passwordVariable:)`), brings its
    /// schema up to date, and returns the store. A server that cannot be reached fails
    /// here, naming it.
    public static func connect(to url: PostgresURL, password: String? = nil, settings: Settings = Settings(),
                               logger: Logger = Logger(label: "salvo.postgres")) async throws -> PostgresDeliveryStore {
        try await withMigratedConnection(to: url, password: password, logger: logger) { _ in }
        // The pool's own log is for its errors only: what goes wrong reaches the caller of
        // each query, and its warning about a lease asked for before `run()` has begun
        // (this store's first query can come first) means nothing to a user.
        var background = logger
        background.logLevel = .error
        let client = PostgresClient(configuration: url.clientConfiguration(password: password), backgroundLogger: background)
        return PostgresDeliveryStore(url: url, settings: settings, client: client, logger: logger)
    }

    /// Runs `body` on one connection of its own to `url`, the schema brought up to date
    /// first, and closes it: what a one-off command holding one transaction needs (`salvo
    /// db copy`), without a pool. A server that cannot be reached fails here, naming it.
    public static func withMigratedConnection<T>(to url: PostgresURL, password: String? = nil,
                                                 logger: Logger = Logger(label: "salvo.postgres"),
                                                 _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(password: password), id: 0, logger: logger)
        } catch {
            throw PostgresStoreError(place: url.place, operation: "connect", error: error)
        }
        do {
            try await PostgresStoreError.naming(place: url.place, operation: "connect") {
                try await PostgresMigrations.migrate(connection, logger: logger)
            }
            let value = try await body(connection)
            try? await connection.close()
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Closes the pool and waits for its task to end. Calls after this fail.
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    /// Closes the pool without waiting (a synchronous caller's clean-up).
    public func close() {
        runner.cancel()
    }

    /// Runs `body` in one transaction (READ COMMITTED, PostgreSQL's default: each
    /// statement sees what others committed before it, and row locks order the rest).
    /// A failure rolls back and is thrown naming the server and `operation`.
    func transaction<T: Sendable>(_ operation: String,
                                  _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await described(operation) {
            try await withConnection(operation) { connection in
                try await Self.inTransaction(connection, logger: logger) { try await body(connection) }
            }
        }
    }

    /// Runs `body` on a pooled connection, waiting for one no longer than
    /// `settings.connectionWait` when that is set (the pool itself waits while it cannot
    /// connect). Once `body` has its connection it runs to its end.
    func withConnection<T: Sendable>(_ operation: String,
                                     _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        guard let wait = settings.connectionWait else { return try await client.withConnection(body) }
        let leased = LeaseFlag()
        return try await withoutActuallyEscaping(body) { body in
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await self.client.withConnection { connection in
                        leased.set()
                        return try await body(connection)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: wait)
                    if leased.isSet { return nil }
                    throw PostgresStoreError(place: self.url.place, operation: operation,
                                             detail: "no connection to the server within \(wait)")
                }
                while let result = try await group.next() {
                    if let value = result {
                        group.cancelAll()
                        return value
                    }
                }
                throw CancellationError()
            }
        }
    }

    /// Runs `body` between `begin` (BEGIN, or one with an isolation level) and COMMIT on
    /// `connection`, rolling back when it throws: the one transaction runner of the pool's
    /// calls and of the one-off commands on a connection of their own (`salvo db copy`).
    public static func inTransaction<T>(_ connection: PostgresConnection, begin: String = "BEGIN", logger: Logger,
                                        _ body: () async throws -> T) async throws -> T {
        try await connection.query(PostgresQuery(unsafeSQL: begin), logger: logger)
        do {
            let value = try await body()
            try await connection.query("COMMIT", logger: logger)
            return value
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// Runs `body` outside any transaction (reads of one statement), errors named: the
    /// server's and the connection's are told as this server's; any other (no such
    /// campaign, a segment that does not parse) is the caller's own and passes as it is.
    func described<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await PostgresStoreError.naming(place: url.place, operation: operation, body)
    }

    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }
    static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
}

/// Whether a call has its connection yet: set once, read by the call's wait.
private final class LeaseFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// A PostgreSQL store call that failed: which server, which call, and what it said.
public struct PostgresStoreError: Error, CustomStringConvertible {
    /// "HOST:PORT/DB".
    public var place: String
    public var operation: String
    /// What went wrong, from the server's own message or the connection's error.
    public var detail: String
    /// The server's SQLSTATE, when the server answered.
    public var sqlState: String?
    /// The server could not be reached or went away (`isServerGone`): an outage to wait
    /// out, not an error of the call.
    public var serverGone: Bool

    public init(place: String, operation: String, detail: String, sqlState: String? = nil, serverGone: Bool = false) {
        self.place = place
        self.operation = operation
        self.detail = detail
        self.sqlState = sqlState
        self.serverGone = serverGone
    }

    init(place: String, operation: String, error: any Error) {
        self.init(place: place, operation: operation, detail: Self.detail(of: error),
                  sqlState: (error as? PSQLError)?.serverInfo?[.sqlState], serverGone: Self.isServerGone(error))
    }

    public var description: String { "PostgreSQL at \(place): \(operation): \(detail)" }

    /// Runs `body`; an error from the server or the connection to it is thrown as this
    /// error, naming `place` and `operation`. Any other (no such campaign, a segment that
    /// does not parse, a copy refused) is the caller's own and passes as it is.
    public static func naming<T>(place: String, operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error where isConnectionOrServer(error) {
            throw PostgresStoreError(place: place, operation: operation, error: error)
        }
    }

    /// Whether `error` came from the server or the connection to it (and so is told
    /// naming the server), rather than from what the caller asked.
    static func isConnectionOrServer(_ error: any Error) -> Bool {
        error is PSQLError || error is PostgresTransactionError || error is NIOConnectionError || error is IOError
            || error is ChannelError || error is PostgresDecodingError || error is ConnectionPoolError
    }

    /// PSQLError keeps its description generic on purpose (it may hold a query's values);
    /// the server's message and the connection's error are what a user can act on.
    static func detail(of error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo, let message = info[.message] {
                return message + (info[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying {
                return error.code == .connectionError ? "cannot connect: \(detail(of: underlying))"
                    : "\(error.code): \(detail(of: underlying))"
            }
            return "\(error.code)"
        }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.first.map(detail(of:))
                ?? "\(error)"
        }
        if let error = error as? NIOConnectionError {
            let causes = error.connectionErrors.map { "\($0.target): \(detail(of: $0.error))" }
            return causes.isEmpty ? "\(error)" : causes.joined(separator: "; ")
        }
        if let error = error as? IOError {
            return "\(error.description)"
        }
        return "\(error)"
    }
}

extension PostgresStoreError: StoreServerError {
    /// The SQLSTATE when the server answered, else "connection".
    public var logCode: String { sqlState ?? "connection" }
}
