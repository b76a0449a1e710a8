import ArgumentParser
import Campaigns
import Foundation

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Schedule a campaign: the first `salvo run` at or after the time starts it.",
        discussion: """
            A time in the past is refused (a wrong year or time zone would otherwise start \
            the campaign at once); --at now starts it at the next salvo run.

            Examples:
              salvo schedule spring-sale --at 2026-12-01T09:00:00Z
              salvo schedule spring-sale --at now
            """)

    @OptionGroup var options: CampaignArguments
    var global: GlobalOptions { options.global }
    var campaign: String { options.campaign }
    @Option(help: ArgumentHelp("When, in RFC 3339 (2026-12-01T09:00:00Z, or with an offset such as +01:00), or now.", valueName: "TIME"))
    var at: String

    func run() async throws {
        let now = Date()
        guard let time = at == "now" ? now : try? Date(at, strategy: .iso8601) else {
            throw ValidationError("--at '\(at)' is not an RFC 3339 time such as 2026-12-01T09:00:00Z (or now)")
        }
        try await global.withDatabase { store in try await store.scheduleCampaign(named: campaign, at: time, now: now) }
        print("campaign '\(campaign)' scheduled for \(time.formatted(.iso8601)); `salvo run` from cron starts it")
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "For cron: start the campaigns whose time has come, send what is due (retries too) and the notices waiting, then exit.",
        discussion: """
            A lock beside the database makes a run that overlaps another exit at once with \
            status 0, so a crontab line can run every minute:

              * * * * * cd /srv/mail && salvo run >> salvo.log 2>&1

            SIGINT or SIGTERM stops the campaign being sent as `salvo send` stops, starts no \
            other, and exits with status 75; a second signal ends it at once. Exit codes: \
            README, "Exit codes".
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        StopSignals.install()
        try await global.withDatabase { configuration, opened in try await run(configuration: configuration, opened: opened) }
    }

    private func run(configuration: SalvoConfiguration, opened: OpenedStore) async throws {
        let store = opened.store
        let environment = ProcessInfo.processInfo.environment
        guard let lock = try RunLock(path: opened.runLockPath) else {
            printNow("another salvo run is working on \(store.place); this one exits")
            return
        }
        defer { lock.release() }
        if let warning = configuration.heloWarning { printError("warning: \(warning)") }
        let due = try await store.campaignsToRun(now: Date())
        // Notices left over from earlier sends go out even when no campaign is due.
        if due.isEmpty {
            printNow("nothing due")
            SendReport.print(notices: await store.sendPendingNotices(configuration: configuration, environment: environment))
            return
        }
        var tally = ExitStatus.Tally()
        for campaign in due {
            // A signal between two campaigns: the next is not started.
            if StopSignals.received { break }
            let sender = CampaignSender(campaign: campaign, store: store, configuration: configuration)
            let interrupt = InterruptHandler { await sender.stop() }
            defer { interrupt.cancel() }
            let started = Date()
            do {
                let progress = CampaignProgress(campaign: campaign, namesCampaign: true)
                let result = try await sender.run(sendNotices: false, onStart: { progress.started($0, counts: $1) }, onProgress: progress.progressed)
                progress.finish()
                SendReport.print(campaign: campaign, result: result, seconds: Date().timeIntervalSince(started))
                tally.add(result.summary)
            } catch {
                // One campaign's problem (a template gone missing) must not stop the others.
                printError("campaign '\(campaign)': \(error)")
                tally.errors += 1
            }
        }
        // Once, after every campaign: the summaries of those that finished, the quota's
        // warnings, and any notice an earlier run could not send (an interrupted run
        // leaves them to the next).
        if !StopSignals.received {
            SendReport.print(notices: await store.sendPendingNotices(configuration: configuration, environment: environment))
        }
        try ExitStatus.exit(tally.finish(database: store.place, interrupted: StopSignals.received))
    }
}

/// An exclusive `flock` on a file beside the database, held for the run.
final class RunLock {
    private let fd: Int32

    /// Nil when another process holds the lock.
    init?(path: String) throws {
        fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
