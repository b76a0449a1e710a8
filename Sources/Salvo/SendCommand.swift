import ArgumentParser
import Campaigns
import Delivery
import Foundation
import NIOConcurrencyHelpers

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a campaign: one pass over every recipient due now.",
        discussion: """
            Starts the campaign if needed (one delivery per recipient of its segment; \
            suppressed addresses are skipped), then sends what is due. A deferred recipient \
            waits for its retry time: `salvo run` from cron, a later `salvo send`, or --wait \
            sends it. Ctrl-C or SIGTERM stops claiming, finishes the transactions in flight, \
            records them, hands the rest back and exits with status 75; running the command \
            again resumes. A second signal ends it at once. Exit codes: README, "Exit codes".

            Examples:
              salvo send spring-sale --dry-run
              salvo send spring-sale --wait
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The campaign's name.")
    var campaign: String

    @Flag(help: "Render every message and route every domain, without connecting or changing anything.")
    var dryRun = false

    @Flag(help: "Send again the recipients left 'unknown' by a crash (their message may have arrived).")
    var resendUnknown = false

    @Flag(help: "Stay until every recipient is final, sending retries when they are due.")
    var wait = false

    func run() async throws {
        StopSignals.install()
        let (configuration, store) = try global.openStore()
        let (definition, sourcePath) = try store.campaign(named: campaign)
        let composer = try definition.composer(campaignFile: sourcePath, configuration: configuration)
        if configuration.dkim == nil {
            printError("warning: no dkim section in the configuration: messages go unsigned")
        }
        if let warning = configuration.heloWarning { printError("warning: \(warning)") }
        if dryRun {
            try await dryRun(store: store, configuration: configuration, definition: definition, composer: composer)
            return
        }
        let sender = CampaignSender(campaign: campaign, store: store, configuration: configuration)
        let interrupt = InterruptHandler { await sender.stop() }
        defer { interrupt.cancel() }
        let started = Date()
        let progress = ProgressLine(unit: "")
        let result = try await sender.run(waitForRetries: wait, resendUnknown: resendUnknown, onStart: { start in
            if start.queued > 0 || start.suppressed > 0 {
                printNow("campaign '\(campaign)': \(start.queued) recipients queued\(start.suppressed > 0 ? ", \(start.suppressed) suppressed" : "")")
            }
        }, onProgress: { counts in
            let rate = Double(counts.attempts) / max(Date().timeIntervalSince(started), 0.001)
            progress.show("sent \(counts.sent), deferred \(counts.deferred), bounced \(counts.bounced), \(Int(rate)) msg/s")
        })
        progress.finish()
        SendReport.print(campaign: campaign, result: result, seconds: Date().timeIntervalSince(started))
        var tally = ExitStatus.Tally()
        tally.add(result.summary)
        try ExitStatus.exit(tally.finish(database: store.path, interrupted: StopSignals.received))
    }

    /// Renders every message and routes every domain, changing nothing.
    private func dryRun(store: SalvoStore, configuration: SalvoConfiguration, definition: CampaignDefinition,
                        composer: MessageComposer) async throws {
        let renderer = CampaignRenderer(composer: composer, verp: try configuration.verpAddress(from: composer.settings.from))
        let router = configuration.router()
        var domains: [String: Int] = [:]
        var rendered = 0
        var bytes = 0
        var failures: [String] = []
        try store.forEachRecipient(list: definition.list, segment: definition.segment) { recipient in
            let delivery = ClaimedDelivery(id: recipient.id, campaignID: 0, recipientID: recipient.id, email: recipient.email,
                                           domain: String(recipient.email.split(separator: "@").last ?? ""), attempts: 0,
                                           firstAttemptAt: nil, attributes: recipient.attributes)
            do {
                bytes += try renderer.render(delivery, smtpUTF8: false).bytes.count
                rendered += 1
            } catch {
                failures.append("\(recipient.email): \(error)")
            }
            domains[delivery.domain, default: 0] += 1
        }
        for failure in failures.prefix(20) { printError(failure) }
        printNow("dry run: \(rendered) messages rendered (\(rendered > 0 ? bytes / rendered : 0) bytes on average), \(failures.count) could not be")
        for (domain, count) in domains.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            let route = await router.route(domain)
            let target: String = switch route {
            case .deliver(_, let destinations, let via): "\(via.rawValue) \(destinations.map(\.description).joined(separator: ", "))"
            case .bounce(let reason): "would bounce: \(reason)"
            case .deferral(let reason): "would wait: \(reason)"
            }
            printNow("  \(domain): \(count) -> \(target)")
        }
    }
}
