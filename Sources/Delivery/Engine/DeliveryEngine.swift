import Foundation
import Logging
import NIOCore
import SMTP

/// Sends a campaign: claims due deliveries from the store, routes each recipient's domain
/// to a site, paces every message through the delivery policy (rates, connection limits,
/// adaptive back-off), sends it over the site's pooled connections, and records what
/// happened. The store is the one source of truth: a delivery is marked `sending` before
/// its DATA goes out, and its outcome is written within a short interval after.
///
/// One `run` makes one pass over everything due now (`waitForRetries` keeps going until
/// every delivery is final). `stop()` (Ctrl-C) stops claiming, lets the transactions in
/// flight finish and be recorded, and hands unsent claims back.
public actor DeliveryEngine {
    public struct Settings: Sendable {
        /// Identifies this engine's claims in the store.
        public var owner: String
        /// The SMTP session settings towards MX hosts and routes (EHLO name, TLS).
        public var mx: SMTPConfiguration
        /// The SMTP session settings towards the relay, when one is used.
        public var relay: SMTPConfiguration?
        public var retry: RetryPolicy
        public var claimBatch = 500
        public var outcomeBatch = 500
        /// Longer waits than this (a suspended site) hand the delivery back for a later
        /// run instead of holding it.
        public var longestWait: Duration = .seconds(30)
        /// Keep going until every delivery is final, sleeping until retries are due.
        public var waitForRetries = false

        public init(owner: String, mx: SMTPConfiguration, relay: SMTPConfiguration? = nil, retry: RetryPolicy = RetryPolicy()) {
            self.owner = owner
            self.mx = mx
            self.relay = relay
            self.retry = retry
        }
    }

    /// What happened in one run.
    public struct Summary: Sendable, Equatable {
        public var sent = 0
        public var deferred = 0
        public var bounced = 0
        public var failed = 0
        public var unknown = 0
        public var recovered = DeliveryRecovery()
        public var stoppedBy: CampaignControl?
        public var attempts: Int { sent + deferred + bounced + failed + unknown }
    }

    private let store: any DeliveryStore
    private let router: Router
    private let renderer: any MessageRenderer
    private var policy: DeliveryPolicy<ContinuousClock.Instant>
    private let settings: Settings
    /// Opens sessions; given the route's kind so a relay gets the relay's settings.
    private let connector: @Sendable (Route.Via) -> SMTPConnector
    private let logger: Logger
    private var generator = SystemRandomNumberGenerator()

    private var pools: [SiteKey: SitePool] = [:]
    private var queues: [SiteKey: [ClaimedDelivery]] = [:]
    private var workers: [SiteKey: Int] = [:]
    private var queued = 0
    private var excludedDomains: Set<String> = []
    private var summary = Summary()
    private var stopping = false
    private var control: CampaignControl = .running
    private var progress: (@Sendable (Summary) -> Void)?

    /// - Parameter connector: opens a session to a destination (tests and the relay use
    ///   the default, `SMTPConnection.connect`).
    public init(store: any DeliveryStore, router: Router, renderer: any MessageRenderer,
                policy: DeliveryPolicy<ContinuousClock.Instant>, settings: Settings,
                connector: SMTPConnector? = nil, logger: Logger = Logger(label: "salvo.delivery")) {
        self.store = store
        self.router = router
        self.renderer = renderer
        self.policy = policy
        self.settings = settings
        self.logger = logger
        if let connector {
            self.connector = { _ in connector }
        } else {
            let mx = settings.mx, relay = settings.relay
            self.connector = { via in
                { destination, address in
                    var configuration = via == .relay ? (relay ?? mx) : mx
                    if configuration.tlsServerName == nil, address != destination.host { configuration.tlsServerName = destination.host }
                    return try await SMTPConnection.connect(host: address, port: destination.port, configuration: configuration)
                }
            }
        }
    }

    /// Asks a running `run` to stop claiming; it returns once the transactions in flight
    /// are recorded.
    public func stop() {
        stopping = true
    }

    /// Sends what is due of `campaign`. `onProgress` is called now and then with the
    /// counts so far.
    public func run(campaign: Int64, onProgress: (@Sendable (Summary) -> Void)? = nil) async throws -> Summary {
        progress = onProgress
        summary = Summary()
        let owner = settings.owner
        try await store.heartbeat(owner: owner, now: Date())
        summary.recovered = try await store.recoverAbandoned(campaign: campaign, owner: owner, now: Date())
        let marker = SendingMarker(store: store, owner: owner)
        let recorder = OutcomeRecorder(store: store, owner: owner, batchSize: settings.outcomeBatch)

        let watcher = Task { [store] in
            // Pause, resume and cancel arrive through the store; the heartbeat keeps
            // this engine's claims from being taken for a dead sender's.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                try? await store.heartbeat(owner: owner, now: Date())
                if let control = try? await store.campaignControl(campaign: campaign) { await self.controlChanged(control) }
                try? await recorder.flush()
            }
        }
        defer { watcher.cancel() }

        do {
            try await withThrowingDiscardingTaskGroup { group in
                while true {
                    if stopping || control != .running { break }
                    if queued >= settings.claimBatch {
                        try await Task.sleep(for: .milliseconds(5))
                        continue
                    }
                    let claimed = try await store.claimDue(campaign: campaign, now: Date(), limit: settings.claimBatch,
                                                           owner: owner, excludingDomains: excludedDomains)
                    if claimed.isEmpty {
                        if queued > 0 || workers.values.contains(where: { $0 > 0 }) {
                            try await Task.sleep(for: .milliseconds(20))
                            continue
                        }
                        guard settings.waitForRetries, let next = try await store.nextDueAt(campaign: campaign) else { break }
                        try await recorder.flush()
                        let wait = max(0.05, min(next.timeIntervalSinceNow, 5))
                        try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                        continue
                    }
                    for delivery in claimed {
                        await dispatch(delivery, group: &group, marker: marker, recorder: recorder)
                    }
                }
                // Wait for the queues to drain (or, when stopping, for the transactions
                // in flight; what is still queued is handed back).
                while queued > 0 || workers.values.contains(where: { $0 > 0 }) {
                    if stopping || control != .running { try await releaseQueued() }
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
        } catch {
            try? await releaseQueued()
            try? await recorder.flush()
            await shutdownPools()
            throw error
        }
        try await recorder.flush()
        await shutdownPools()
        try await store.signOff(owner: owner)
        _ = try await store.finishIfComplete(campaign: campaign, now: Date())
        if control != .running { summary.stoppedBy = control }
        progress?(summary)
        return summary
    }

    private func controlChanged(_ value: CampaignControl) {
        if value == .paused || value == .cancelled { control = value }
    }

    // MARK: - Routing and queues

    private func dispatch(_ delivery: ClaimedDelivery, group: inout ThrowingDiscardingTaskGroup<Error>,
                          marker: SendingMarker, recorder: OutcomeRecorder) async {
        let route = await router.route(delivery.domain)
        switch route {
        case .bounce(let reason):
            // No such domain, or a null MX: the address can never receive mail.
            await finish(delivery, .bounced, code: nil, enhanced: nil, response: reason,
                         mxHost: nil, messageID: nil, suppress: true, recorder: recorder)
        case .deferral(let reason):
            await finish(delivery, .deferred, code: nil, enhanced: nil, response: reason, mxHost: nil, messageID: nil,
                         suppress: false, recorder: recorder)
        case .deliver(let siteName, let destinations, let via):
            let site = SiteKey(routerSite: siteName, mxPort: destinations.first?.port ?? 25)
                ?? SiteKey(host: destinations.first?.host ?? siteName, port: destinations.first?.port ?? 25)
            if pools[site] == nil {
                let effective = policy.limits.resolve(domain: delivery.domain, site: site)
                pools[site] = SitePool(site: siteName, destinations: destinations, maxConnections: effective.connections,
                                       messagesPerConnection: effective.messagesPerConnection, connector: connector(via))
            }
            queues[site, default: []].append(delivery)
            queued += 1
            let limit = policy.concurrency(for: site) ?? policy.limits.resolve(domain: delivery.domain, site: site).connections
            if workers[site, default: 0] < limit {
                workers[site, default: 0] += 1
                group.addTask { await self.work(site: site, marker: marker, recorder: recorder) }
            }
        }
    }

    private func nextDelivery(for site: SiteKey) -> ClaimedDelivery? {
        guard !(stopping || control != .running), var queue = queues[site], !queue.isEmpty else {
            workers[site, default: 1] -= 1
            return nil
        }
        let delivery = queue.removeFirst()
        queues[site] = queue
        queued -= 1
        return delivery
    }

    private func releaseQueued() async throws {
        let held = queues.values.flatMap { $0 }
        queues.removeAll()
        queued = 0
        if !held.isEmpty { try await store.release(held.map(\.id), owner: settings.owner) }
    }

    private func shutdownPools() async {
        for pool in pools.values { await pool.shutdown() }
        pools.removeAll()
    }

    // MARK: - Sending one message

    private func work(site: SiteKey, marker: SendingMarker, recorder: OutcomeRecorder) async {
        while let delivery = nextDelivery(for: site) {
            do {
                try await send(delivery, site: site, marker: marker, recorder: recorder)
            } catch {
                logger.error("delivery \(delivery.id) to \(delivery.email): \(error)")
            }
        }
    }

    private func admit(_ delivery: ClaimedDelivery, site: SiteKey) -> DeliveryPolicy<ContinuousClock.Instant>.Admission {
        policy.admit(domain: delivery.domain, site: site, now: .now)
    }

    private func send(_ delivery: ClaimedDelivery, site: SiteKey, marker: SendingMarker, recorder: OutcomeRecorder) async throws {
        // Pace: rates, pauses and suspensions.
        var effective: SiteLimits.Effective
        while true {
            switch admit(delivery, site: site) {
            case .proceed(let limits):
                effective = limits
            case .wait(let until):
                if until - .now > settings.longestWait {
                    // A long suspension: hand it back and leave the domain alone this run.
                    excludedDomains.insert(delivery.domain)
                    try await store.release([delivery.id], owner: settings.owner)
                    return
                }
                try await Task.sleep(until: until, clock: .continuous)
                continue
            }
            break
        }
        guard let pool = pools[site] else { return }

        let message: RenderedMessage
        do {
            message = try renderer.render(delivery, smtpUTF8: false)
        } catch {
            await finish(delivery, .failed, code: nil, enhanced: nil, response: "could not compose the message: \(error)",
                         mxHost: nil, messageID: nil, suppress: false, recorder: recorder)
            return
        }

        do {
            let result: (SMTPTransactionResult, String) = try await pool.withConnection { connection in
                // Marked `sending` only now, with a connection in hand: a crash before
                // this point leaves the delivery `claimed`, which is safe to send again.
                guard try await marker.mark(delivery.id) else { throw EngineSkip() }
                let transaction = SMTPTransaction(mailFrom: message.envelopeFrom, recipients: [message.envelopeTo],
                                                  message: message.bytes, smtpUTF8: false)
                return (try await connection.send(transaction), connection.server)
            }
            try await handle(result.0, delivery: delivery, site: effective.site, server: result.1, messageID: message.messageID, recorder: recorder)
        } catch is EngineSkip {
            return
        } catch let error as SMTPError {
            let reaction = policy.failed(error, site: effective.site, now: .now, using: &generator)
            await apply(reaction.site, site: site)
            // A session lost after DATA leaves the message in doubt (`unknown`); any
            // other failure defers or bounces it by the reply.
            await finish(delivery, reaction.classification.disposition.state,
                         code: error.reply.map { Int($0.code) }, enhanced: error.reply?.enhancedCode?.description,
                         response: "\(error)", mxHost: nil, messageID: message.messageID,
                         suppress: reaction.classification.suppressesAddress, recorder: recorder)
        } catch let error as SitePoolError {
            // No destination took a connection: unreachable or refusing for now.
            await finish(delivery, .deferred, code: nil, enhanced: nil, response: "\(error)", mxHost: nil,
                         messageID: nil, suppress: false, recorder: recorder)
        }
    }

    private func handle(_ result: SMTPTransactionResult, delivery: ClaimedDelivery, site: SiteKey, server: String,
                        messageID: String, recorder: OutcomeRecorder) async throws {
        guard let outcome = result.recipients.first else { return }
        let stage: ReplyClassification.Stage = outcome.status == .accepted ? .data : .recipient
        let reaction = policy.replied(outcome.reply, stage: stage, site: site, now: .now, using: &generator)
        await apply(reaction.site, site: site)
        await finish(delivery, reaction.classification.disposition.state, code: Int(outcome.reply.code),
                     enhanced: outcome.reply.enhancedCode?.description, response: outcome.reply.text,
                     mxHost: server, messageID: messageID, suppress: reaction.classification.suppressesAddress,
                     recorder: recorder)
    }

    private func apply(_ action: AdaptiveBackoff<ContinuousClock.Instant>.Action, site: SiteKey) async {
        switch action {
        case .none: break
        case .pause(_, let concurrency), .setConcurrency(let concurrency):
            await pools[site]?.setMaxConnections(concurrency)
        }
    }

    /// Turns a disposition into the recorded outcome: a deferral gets its next attempt
    /// from the retry policy, or fails when the recipient has waited long enough.
    private func finish(_ delivery: ClaimedDelivery, _ initial: DeliveryState, code: Int?, enhanced: String?,
                        response: String, mxHost: String?, messageID: String?, suppress: Bool,
                        recorder: OutcomeRecorder) async {
        let now = Date()
        var state = initial
        var next: Date?
        var text = response
        if state == .deferred {
            switch settings.retry.next(afterAttempts: delivery.attempts + 1, firstAttempt: delivery.firstAttemptAt ?? now, now: now) {
            case .retry(let at): next = at
            case .giveUp:
                state = .failed
                text = "given up after \(delivery.attempts + 1) attempts: \(response)"
            }
        }
        switch state {
        case .sent: summary.sent += 1
        case .deferred: summary.deferred += 1
        case .bounced: summary.bounced += 1
        case .unknown: summary.unknown += 1
        default: summary.failed += 1
        }
        let outcome = DeliveryOutcome(deliveryID: delivery.id, state: state, code: code, enhancedCode: enhanced,
                                      response: text, mxHost: mxHost, messageID: messageID, attemptedAt: now, nextAttemptAt: next)
        do {
            try await recorder.add(outcome, suppress: suppress && state == .bounced)
        } catch {
            logger.error("recording the outcome of delivery \(delivery.id) failed: \(error)")
        }
        if summary.attempts % 100 == 0 { progress?(summary) }
    }
}

/// The store took a delivery back between claim and send (the campaign was cancelled).
private struct EngineSkip: Error {}
