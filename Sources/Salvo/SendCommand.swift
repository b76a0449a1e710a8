import ArgumentParser
import Campaigns
import Delivery
import Foundation

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

            --test-to sends one recipient's exact message (subject prefixed [test]) to \
            seed addresses through the configured route; the campaign's recipients and \
            state are untouched.

            Examples:
              salvo send spring-sale --test-to me@shop.example --recipient ada@example.com
              salvo send spring-sale --dry-run
              salvo send spring-sale --wait
            """)

    @OptionGroup var options: CampaignArguments
    var global: GlobalOptions { options.global }
    var campaign: String { options.campaign }

    @Flag(help: "Render every message and route every domain, without connecting or changing anything.")
    var dryRun = false

    @Flag(help: "Send again the recipients left 'unknown' by a crash (their message may have arrived).")
    var resendUnknown = false

    @Flag(help: "Stay until every recipient is final, sending retries when they are due.")
    var wait = false

    @Option(name: .customLong("test-to"), parsing: .upToNextOption,
            help: ArgumentHelp("Send one recipient's message, subject prefixed [test], to these addresses only (the campaign is not started).", valueName: "ADDRESS"))
    var testTo: [String] = []

    @Option(help: ArgumentHelp("With --test-to: whose message (default: the first the segment selects).", valueName: "EMAIL"))
    var recipient: String?

    func validate() throws {
        if recipient != nil, testTo.isEmpty { throw ValidationError("--recipient goes with --test-to") }
        if !testTo.isEmpty, dryRun || wait || resendUnknown {
            throw ValidationError("--test-to sends a test only: it does not go with --dry-run, --wait or --resend-unknown")
        }
    }

    func run() async throws {
        StopSignals.install()
        try await global.withDatabase { configuration, opened in try await run(configuration: configuration, opened: opened) }
    }

    private func run(configuration: SalvoConfiguration, opened: OpenedStore) async throws {
        let store = opened.store
        if !testTo.isEmpty {
            try await testSend(store: store, configuration: configuration)
            return
        }
        // Checked again as at `create` (templates edited since, fields the list lacks).
        let checked = try await store.checkedCampaign(named: campaign, configuration: configuration,
                                                      environment: ProcessInfo.processInfo.environment)
        for warning in checked.warnings { printError("warning: \(warning)") }
        let (definition, composer) = (checked.definition, checked.composer)
        if configuration.dkim == nil {
            printError("warning: no dkim section in the configuration: messages go unsigned")
        }
        if let warning = configuration.heloWarning { printError("warning: \(warning)") }
        if dryRun {
            try await dryRun(store: store, configuration: configuration, definition: definition,
                             composer: composer)
            return
        }
        let sender = CampaignSender(campaign: campaign, store: store, configuration: configuration)
        let interrupt = InterruptHandler { await sender.stop() }
        defer { interrupt.cancel() }
        let started = Date()
        let progress = CampaignProgress(campaign: campaign)
        let result = try await sender.run(waitForRetries: wait, resendUnknown: resendUnknown,
                                          onStart: { progress.started($0, counts: $1) }, onProgress: progress.progressed)
        progress.finish()
        SendReport.print(campaign: campaign, result: result, seconds: Date().timeIntervalSince(started))
        var tally = ExitStatus.Tally()
        tally.add(result.summary)
        try ExitStatus.exit(tally.finish(database: store.place, interrupted: StopSignals.received))
    }

    /// The test send: one recipient's message to the seed addresses, recorded apart.
    private func testSend(store: any SalvoDatabase, configuration: SalvoConfiguration) async throws {
        let report = try await TestSend(store: store, configuration: configuration)
            .send(campaign: campaign, recipient: recipient, to: testTo)
        for warning in report.warnings { printError("warning: \(warning)") }
        printNow("test of '\(campaign)' as \(report.recipient) would get it: \(report.subject)")
        for result in report.results {
            printNow("  \(result.seed): \(result.outcome.rawValue) (\(result.detail))")
        }
        if report.results.contains(where: { $0.outcome != .sent }) {
            throw ExitCode(1)
        }
    }

    /// Renders every message and routes every domain, changing nothing.
    private func dryRun(store: any SalvoDatabase, configuration: SalvoConfiguration, definition: CampaignDefinition,
                        composer: MessageComposer) async throws {
        let renderer = CampaignRenderer(composer: composer, verp: try configuration.verpAddress(from: composer.settings.from))
        let router = configuration.router()
        var domains: [String: Int] = [:]
        var rendered = 0
        var bytes = 0
        var failures: [String] = []
        try await store.forEachRecipient(list: definition.list, segment: definition.segment) { recipient in
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
