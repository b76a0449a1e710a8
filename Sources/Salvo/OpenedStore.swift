import Campaigns
import Foundation
import PostgresStore

/// The store a command works on: the SQLite file, or the PostgreSQL database that
/// `database` (or `--db`, `$SALVO_DB`) names with a `postgres://` URL, where several hosts
/// send one campaign together.
enum OpenedStore {
    case sqlite(SalvoStore)
    case postgres(PostgresDeliveryStore)

    var store: any SalvoDatabase {
        switch self {
        case .sqlite(let store): store
        case .postgres(let store): store
        }
    }

    /// Closes a PostgreSQL store's pool (an SQLite store closes when released).
    func close() async {
        if case .postgres(let store) = self { await store.shutdown() }
    }

    /// The lock of the `salvo run`s on this database from this host: beside an SQLite
    /// file; for a PostgreSQL database, in the temporary folder, named for its server and
    /// database (the runs of other hosts work beside this one's, sharing its campaigns).
    var runLockPath: String {
        switch self {
        case .sqlite(let store): return store.path + ".run-lock"
        case .postgres(let store):
            let name = String(store.url.place.map { $0.isLetter || $0.isNumber ? $0 : "-" })
            return (NSTemporaryDirectory() as NSString).appendingPathComponent("salvo-run-\(name).lock")
        }
    }
}

extension GlobalOptions {
    /// Opens the database a send works on, with the configuration's daily quota and
    /// reputation guard. A PostgreSQL server that cannot be reached fails here, in one line
    /// naming it; its password comes from `$SALVO_DB_PASSWORD` or `database_password_env`.
    /// `create` makes a missing SQLite file (`import`); a PostgreSQL database is the
    /// server's, made by its administrator. `connectionWait` bounds how long a PostgreSQL
    /// call waits for a connection (nil: until the server is back).
    func openDatabase(create: Bool = false, connectionWait: Duration? = nil) async throws -> (SalvoConfiguration, OpenedStore) {
        let configuration = try configuration()
        let database = databasePath(configuration)
        guard SalvoConfiguration.isPostgresURL(database) else {
            return (configuration, .sqlite(try openSQLite(database, create: create, configuration: configuration)))
        }
        let url = try PostgresURL(database)
        var settings = PostgresDeliveryStore.Settings(perDay: configuration.quota?.perDay, maxBounceRate: nil,
                                                      connectionWait: connectionWait)
        if let guardSettings = configuration.reputationGuard {
            settings.maxBounceRate = guardSettings.maxBounceRate
            settings.minimumAttempts = guardSettings.minimumAttempts
        }
        let store = try await PostgresDeliveryStore.connect(
            to: url, password: PostgresURL.password(passwordVariable: configuration.databasePasswordEnv), settings: settings)
        return (configuration, .postgres(store))
    }
}

extension GlobalOptions {
    /// Runs `body` with the configuration and the store a send works on
    /// (`openDatabase`), closed afterwards however `body` ends.
    /// An SQLite error is told in one line naming the file and what to do
    /// (`SalvoStore.explainingErrors`).
    func withDatabase<T>(create: Bool = false, connectionWait: Duration? = nil,
                         _ body: (SalvoConfiguration, OpenedStore) async throws -> T) async throws -> T {
        let (configuration, opened) = try await openDatabase(create: create, connectionWait: connectionWait)
        do {
            let value = switch opened {
            case .sqlite(let store): try await store.explainingErrors { try await body(configuration, opened) }
            case .postgres: try await body(configuration, opened)
            }
            await opened.close()
            return value
        } catch {
            await opened.close()
            throw error
        }
    }

    /// `withDatabase` for a command that needs only the store.
    func withDatabase<T>(_ body: (any SalvoDatabase) async throws -> T) async throws -> T {
        try await withDatabase { _, opened in try await body(opened.store) }
    }
}
