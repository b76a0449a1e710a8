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
            sends it. Ctrl-C stops claiming, finishes the transactions in flight, records \
            them and exits; running the command again resumes.

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
        let (configuration, store) = try global.openStore()
        let (definition, sourcePath) = try store.campaign(named: campaign)
        let composer = try definition.composer(campaignFile: sourcePath, configuration: configuration)
        if configuration.dkim == nil {
            printError("warning: no dkim section in the configuration: messages go unsigned")
        }
        if dryRun {
            try await dryRun(store: store, configuration: configuration, definition: definition, composer: composer)
            return
        }
        let campaignID = try store.campaignID(named: campaign)
        if resendUnknown {
            let again = try await store.resendUnknown(campaign: campaignID)
            printNow("\(again) recipients in doubt ('unknown') queued again")
        }
        let start = try store.startCampaign(named: campaign)
        if start.queued > 0 || start.suppressed > 0 {
            printNow("campaign '\(campaign)': \(start.queued) recipients queued\(start.suppressed > 0 ? ", \(start.suppressed) suppressed" : "")")
        }
        if start.state == "paused" {
            printNow("campaign '\(campaign)' is paused: `salvo resume \(campaign)` first")
            return
        }

        var settings = DeliveryEngine.Settings(
            owner: "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8))",
            mx: configuration.mxSession(), relay: try configuration.relaySession(), retry: configuration.retryPolicy())
        settings.waitForRetries = wait
        let engine = DeliveryEngine(store: store, router: configuration.router(), renderer: CampaignRenderer(composer: composer),
                                    policy: try configuration.deliveryPolicy(), settings: settings)

        let interrupt = [SIGINT, SIGTERM].map { signal -> DispatchSourceSignal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler {
                printError("stopping: finishing the transactions in flight (Ctrl-C again to quit at once)")
                Foundation.signal(SIGINT, SIG_DFL)
                Task { await engine.stop() }
            }
            source.resume()
            return source
        }
        defer { interrupt.forEach { $0.cancel() } }

        let started = Date()
        let progress = ProgressLine(unit: "")
        let summary = try await engine.run(campaign: campaignID) { counts in
            let rate = Double(counts.attempts) / max(Date().timeIntervalSince(started), 0.001)
            progress.show("sent \(counts.sent), deferred \(counts.deferred), bounced \(counts.bounced), \(Int(rate)) msg/s")
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        if summary.recovered.released + summary.recovered.unknown > 0 {
            printNow("recovered from an earlier run: \(summary.recovered.released) claims released, \(summary.recovered.unknown) in doubt (unknown)")
        }
        printNow("sent \(summary.sent), deferred \(summary.deferred), bounced \(summary.bounced), failed \(summary.failed), unknown \(summary.unknown) in \(String(format: "%.1f", seconds)) s (\(Int(Double(summary.attempts) / max(seconds, 0.001))) msg/s)")
        let counts = try await store.stateCounts(campaign: campaignID)
        let states = DeliveryState.allCases.compactMap { state -> String? in
            let n = counts.byState[state] ?? 0
            return n > 0 ? "\(state.rawValue) \(n)" : nil
        }
        printNow("campaign '\(campaign)': \(states.joined(separator: ", "))")
        if let stopped = summary.stoppedBy { printNow("stopped: the campaign was \(stopped.rawValue)") }
        if (counts.byState[.unknown] ?? 0) > 0 {
            printNow("recipients in doubt are not sent again unless you run: salvo send \(campaign) --resend-unknown")
        }
    }

    /// Renders every message and routes every domain, changing nothing.
    private func dryRun(store: SalvoStore, configuration: SalvoConfiguration, definition: CampaignDefinition,
                        composer: MessageComposer) async throws {
        let renderer = CampaignRenderer(composer: composer)
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
