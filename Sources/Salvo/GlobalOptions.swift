import ArgumentParser
import Campaigns
import Foundation

/// `--config` and `--db`, accepted by every command.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (default: $SALVO_CONFIG, else ./salvo.yml if present).", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("SQLite database, or postgres://USER@HOST[:PORT]/DB (default: $SALVO_DB, else `database` in the configuration, else salvo.db).", valueName: "FILE"))
    var db: String?

    /// The configuration in force: the file found, or the defaults when there is none.
    func configuration() throws -> SalvoConfiguration {
        guard let path = SalvoConfiguration.locate(explicit: config) else { return SalvoConfiguration() }
        return try SalvoConfiguration.load(path: path)
    }

    func databasePath(_ configuration: SalvoConfiguration) -> String {
        if let db { return db }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SALVO_DB"], !fromEnvironment.isEmpty { return fromEnvironment }
        return configuration.database
    }

    /// Opens the SQLite database `database` names. Only `init`, `import` and `bounces
    /// import` pass `create`: any other command run from the wrong folder, or with a
    /// mistyped `--db`, says there is no database and leaves nothing behind.
    func openSQLite(_ database: String, create: Bool, configuration: SalvoConfiguration) throws -> SalvoStore {
        try SalvoStore(path: database, create: create,
                       reputationGuard: configuration.reputationGuard, dailyQuota: configuration.quota)
    }

    /// The files a command reads besides its own input: the configuration and the
    /// database (with its -wal and -shm), which an output file must not be.
    func readFiles(_ configuration: SalvoConfiguration) -> [(role: String, path: String)] {
        var files: [(role: String, path: String)] = []
        if let config = SalvoConfiguration.locate(explicit: config) { files.append(("configuration file", config)) }
        let database = databasePath(configuration)
        if SalvoConfiguration.isPostgresURL(database) { return files }
        files += [("database", database), ("database's write-ahead log", database + "-wal"), ("database's shared memory", database + "-shm")]
        return files
    }
}

/// A command that cannot go on, in one line (exit status 1).
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes one line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes one line to standard output at once (unbuffered), for long-running commands
/// whose output is read while they run.
func printNow(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
