import ArgumentParser
import Campaigns
import Delivery

/// How `salvo send` and `salvo run` end (README, "Exit codes"): a supervisor or a cron
/// wrapper tells from the status alone whether to run again, to fix the sender's setup, or
/// to look at the database.
///
/// 0 all done, 1 an error (bad input, configuration, store; ArgumentParser's default for
/// a thrown error), 64 a usage error (ArgumentParser's own), and the three below. When
/// several apply, the most serious wins: `lostOutcomes`, then `senderFailure`, then an
/// error, then `interrupted`.
enum ExitStatus {
    /// Stopped by SIGINT or SIGTERM; running the command again resumes (sysexits' EX_TEMPFAIL).
    static let interrupted: Int32 = 75
    /// A failure that is the sender's own (credentials, HELO, the relay's certificate):
    /// the route stopped, nobody bounced (EX_CONFIG).
    static let senderFailure: Int32 = 78
    /// An outcome known from a server could not be recorded in the store (EX_IOERR).
    static let lostOutcomes: Int32 = 74

    /// What one or more campaign passes of a command came to.
    struct Tally {
        var senderFailures: [SenderFailure] = []
        var lostOutcomes = 0
        var errors = 0

        mutating func add(_ summary: DeliveryEngine.Summary?) {
            guard let summary else { return }
            if let failure = summary.senderFailure { senderFailures.append(failure) }
            lostOutcomes += summary.lostOutcomes
        }

        /// Prints the line each failure owes the user on stderr and returns the status.
        func finish(database: String, interrupted: Bool) -> Int32 {
            for failure in senderFailures { printError("error: the sender's setup failed at \(failure)") }
            if lostOutcomes > 0 {
                printError("error: \(lostOutcomes) outcome\(lostOutcomes == 1 ? "" : "s") known from a server could not be recorded in \(database); those deliveries show as sending or unknown")
            }
            if interrupted { printError("interrupted: run the command again to resume") }
            if lostOutcomes > 0 { return ExitStatus.lostOutcomes }
            if !senderFailures.isEmpty { return ExitStatus.senderFailure }
            if errors > 0 { return 1 }
            if interrupted { return ExitStatus.interrupted }
            return 0
        }
    }

    /// Ends the command with `status` (returns normally for 0).
    static func exit(_ status: Int32) throws {
        if status != 0 { throw ExitCode(status) }
    }
}
