import ArgumentParser
import Campaigns
import Foundation

/// `--config` and `--db`, accepted by every command.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (default: $SALVO_CONFIG, else ./salvo.yml if present).", valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("SQLite database (default: $SALVO_DB, else `database` in the configuration, else salvo.db).", valueName: "FILE"))
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

    func openStore() throws -> (SalvoConfiguration, SalvoStore) {
        let configuration = try configuration()
        return (configuration, try SalvoStore(path: databasePath(configuration), reputationGuard: configuration.reputationGuard,
                                           dailyQuota: configuration.quota))
    }
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
