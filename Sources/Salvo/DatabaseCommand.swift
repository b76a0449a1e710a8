import ArgumentParser
import Campaigns
import Foundation
import PostgresStore
import StoreCopy

/// `salvo db`: the database as a whole.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Work on the database as a whole.", subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a whole database between SQLite and PostgreSQL, either way, verified by counts.",
            discussion: """
                Lists, recipients, campaigns, deliveries, attempts, suppressions, bounces, notices, \
                the daily quota, unsubscribes, test sends and tracking, with their ids. The source \
                is read in one snapshot and must have no sender at work; the destination must be \
                empty (PostgreSQL) or not exist yet (SQLite). The password of a PostgreSQL database \
                comes from $SALVO_DB_PASSWORD, or the variable `database_password_env` names.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: ArgumentHelp("The database to copy (default: the one in use: --db, $SALVO_DB, `database`).", valueName: "FILE|URL"))
        var from: String?

        @Option(help: ArgumentHelp("Where to copy it: postgres://USER@HOST[:PORT]/DB from SQLite, a new SQLite file from PostgreSQL.", valueName: "URL|FILE"))
        var to: String

        func run() async throws {
            let configuration = try global.configuration()
            let source = from ?? global.databasePath(configuration)
            let password = PostgresURL.password(passwordVariable: configuration.databasePasswordEnv)
            let report: DatabaseCopy.Report
            switch (SalvoConfiguration.isPostgresURL(source), SalvoConfiguration.isPostgresURL(to)) {
            case (false, true):
                let destination = try PostgresURL(to)
                let store = try SalvoStore(path: source, create: false, reputationGuard: nil)
                report = try await DatabaseCopy.copy(from: store, to: destination, password: password)
            case (true, false):
                report = try await DatabaseCopy.copy(from: try PostgresURL(source), password: password, toSQLite: to)
            case (true, true):
                throw CommandError("--from and --to are both PostgreSQL: salvo db copy copies between SQLite and PostgreSQL (use pg_dump between servers)")
            case (false, false):
                throw CommandError("--from and --to are both SQLite files: salvo db copy copies between SQLite and PostgreSQL (use sqlite3's .backup between files)")
            }
            for table in report.tables { print("\(table.table): \(table.rows)") }
            print("copied \(report.rows) rows in \(report.tables.count) tables from \(source) to \(to); every table's count verified")
        }
    }
}
