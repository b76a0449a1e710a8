import Delivery
import Foundation

/// Sends one campaign with everything `salvo.yml` says: what `salvo send` and `salvo run`
/// both do. It starts the campaign (materialising deliveries for recipients not yet
/// queued), builds the delivery engine, and makes one pass, or stays until every
/// recipient is final; then it sends the notices waiting (a failure summary when the
/// campaign finished, the daily quota's warnings).
public actor CampaignSender {
    public let campaign: String
    private let store: any CampaignSendingStore
    private let configuration: SalvoConfiguration
    private let environment: [String: String]
    private var engine: DeliveryEngine?
    private var stopRequested = false

    public init(campaign: String, store: any CampaignSendingStore, configuration: SalvoConfiguration,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.campaign = campaign
        self.store = store
        self.configuration = configuration
        self.environment = environment
    }

    /// The engine's settings as `salvo.yml` gives them, with an owner name of its own.
    static func engineSettings(_ configuration: SalvoConfiguration, environment: [String: String]) throws -> DeliveryEngine.Settings {
        var settings = DeliveryEngine.Settings(
            owner: "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8))",
            mx: configuration.mxSession(), relay: try configuration.relaySession(environment: environment),
            retry: configuration.retryPolicy())
        if let failures = configuration.delivery.suspendAfterFailedConnections { settings.suspendAfterFailedConnections = failures }
        settings.claimBatch = DeliveryEngine.Settings.claimBatch(globalRate: configuration.limits.global.rate)
        return settings
    }

    /// What a run did.
    public struct Result: Sendable {
        public var start: CampaignStart
        /// Nil when nothing was sent (a paused campaign).
        public var summary: DeliveryEngine.Summary?
        /// Deliveries per state after the run.
        public var counts: DeliveryCounts
        /// The notices sent, and warnings for those that were not (never an error).
        public var notices = NoticeSender.Report()
    }

    /// - Parameters:
    ///   - resendUnknown: queue the recipients left `unknown` by a crash again first.
    ///   - onStart: told how many recipients the start queued, and the campaign's
    ///     deliveries by state then, before sending.
    ///   - sendNotices: send the waiting notices at the end (`salvo run` sends them once,
    ///     after all its campaigns).
    public func run(waitForRetries: Bool = false, resendUnknown: Bool = false, sendNotices: Bool = true,
                    onStart: (@Sendable (CampaignStart, DeliveryCounts) -> Void)? = nil,
                    onProgress: (@Sendable (DeliveryEngine.Summary) -> Void)? = nil) async throws -> Result {
        // Checked again as at `create`: a template edited since must not send empty fields.
        let composer = try await store.checkedCampaign(named: campaign, configuration: configuration, environment: environment).composer
        let renderer = CampaignRenderer(composer: composer,
                                        verp: try configuration.verpAddress(from: composer.settings.from, environment: environment))
        let campaignID = try await store.campaignID(named: campaign)
        if resendUnknown { _ = try await store.resendUnknown(campaign: campaignID) }
        let start = try await store.startCampaign(named: campaign, now: Date())
        if let onStart { onStart(start, try await store.stateCounts(campaign: campaignID)) }
        guard start.state == "running", !stopRequested else {
            var result = Result(start: start, summary: nil, counts: try await store.stateCounts(campaign: campaignID))
            if sendNotices { result.notices = await store.sendPendingNotices(configuration: configuration, environment: environment) }
            return result
        }
        // An address this host does not have would be found only by the first connection
        // from it, perhaps never in a small send: it stops the send here, nobody claimed.
        if let failure = configuration.unusableSourceAddress() {
            var summary = DeliveryEngine.Summary()
            summary.senderFailure = failure
            return Result(start: start, summary: summary, counts: try await store.stateCounts(campaign: campaignID))
        }
        var settings = try Self.engineSettings(configuration, environment: environment)
        settings.waitForRetries = waitForRetries
        let engine = DeliveryEngine(store: store, router: configuration.router(), renderer: renderer,
                                    policy: try configuration.deliveryPolicy(), settings: settings)
        self.engine = engine
        let summary = try await engine.run(campaign: campaignID, onProgress: onProgress)
        self.engine = nil
        var result = Result(start: start, summary: summary, counts: try await store.stateCounts(campaign: campaignID))
        if sendNotices { result.notices = await store.sendPendingNotices(configuration: configuration, environment: environment) }
        return result
    }

    /// Stops claiming; the run returns once the transactions in flight are recorded.
    public func stop() async {
        stopRequested = true
        await engine?.stop()
    }
}
