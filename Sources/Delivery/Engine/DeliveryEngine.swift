import Foundation
import Logging
import NIOConcurrencyHelpers
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
        /// Deliveries one claim takes; `claimBatch(globalRate:)` sizes it to a rate.
        public var claimBatch = Settings.largestClaim
        public var outcomeBatch = 500
        /// Longer waits than this (a suspended site) hand the delivery back for a later
        /// run instead of holding it.
        public var longestWait: Duration = .seconds(30)
        /// Keep going until every delivery is final, sleeping until retries are due.
        public var waitForRetries = false
        /// Connections a site may fail in a row (refused, timed out, a 4xx or 554
        /// greeting, a failed TLS handshake) before it is suspended for the pass: its
        /// recipients are then deferred at once, without an attempt each.
        public var suspendAfterFailedConnections = 3
        /// Waits between the attempts of a commit the store refused (a busy database);
        /// after the last, the outcomes wait for the next commit. About 20 s in all:
        /// longer than a busy store usually stays locked, short enough that a store that
        /// is gone ends the send soon.
        public var commitRetryDelays: [Duration] = [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
                                                    .milliseconds(800), .milliseconds(1600), .milliseconds(3200),
                                                    .seconds(5), .seconds(5), .seconds(5)]

        public static let largestClaim = 500
        /// How far ahead a rate-limited sender claims.
        public static let claimHorizon: Double = 30

        /// What one claim takes under `limits.global.rate`: what the rate lets go out in
        /// `claimHorizon` seconds, from 1 to `largestClaim`. A sender holds about two
        /// claims, so with a slow rate one host of a fleet no longer holds a whole small
        /// campaign while the others have nothing to send; without a rate, `largestClaim`.
        public static func claimBatch(globalRate: Rate?) -> Int {
            guard let rate = globalRate else { return largestClaim }
            let ahead = (rate.perSecond * claimHorizon).rounded(.up)
            return ahead >= Double(largestClaim) ? largestClaim : max(1, Int(ahead))
        }

        /// What of these the engine's state machine keeps to.
        var machine: StateMachine<ContinuousClock.Instant>.Settings {
            .init(claimBatch: claimBatch, waitForRetries: waitForRetries, longestWait: longestWait,
                  suspendAfterFailedConnections: suspendAfterFailedConnections)
        }

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
        /// Set when the pass ended because the store holds sending back (daily quota).
        public var heldBy: SendingHold?
        /// Set when a route stopped because the sender's own setup failed there (the
        /// first such failure; the command exits non-zero with it).
        public var senderFailure: SenderFailure?
        /// Outcomes known from a server that the store could not record (after its
        /// retries): the command says so and exits non-zero.
        public var lostOutcomes = 0
        public var attempts: Int { sent + deferred + bounced + failed + unknown }

        public init() {}
    }

    typealias Machine = StateMachine<ContinuousClock.Instant>

    let store: any DeliveryStore
    private let router: Router
    let renderer: any MessageRenderer
    /// Read and updated by the engine (admission) and by workers (replies), behind a lock
    /// rather than the actor: a worker records a reply without a hop.
    nonisolated let policy: NIOLockedValueBox<DeliveryPolicy<ContinuousClock.Instant>>
    let settings: Settings
    /// Where the engine's time comes from (a fake clock in tests).
    nonisolated let clock: DeliveryClock
    /// Opens sessions for a route of kind `via`, `requireTLS` or not, from a source address
    /// (nil for `delivery.source_address` or the system's choice).
    private let connector: @Sendable (Route.Via, Bool, String?) -> SMTPConnector
    let logger: Logger

    /// The pass's bookkeeping: every decision is the machine's, every effect the runner's.
    var machine: Machine
    private var pools: [SiteKey: SitePool] = [:]
    /// The work the pass runs as child tasks: claims, workers, the store's idle answer.
    private var jobs: AsyncStream<Job>.Continuation?
    private var committer: StoreCommitter?
    private var retryTimer: Task<Void, Never>?
    /// The first error that ended the pass (a claim the store refused).
    private var failure: (any Error)?
    /// `perform` calls still running their effects, and a pass that waits for them to end.
    private var performing = 0
    private var quiet: CheckedContinuation<Void, Never>?
    /// `stop()` was called: a later `run` stops at once too.
    private var stopped = false
    /// Workers waiting for a site's pause to end, woken early when the site stops or the
    /// engine does.
    private var sleepers: [SiteKey: [Task<Void, Never>]] = [:]
    /// Each site's connections failed in a row, kept by the connector a pool opens
    /// sessions with (a success resets the count), and whether the site stopped.
    nonisolated let connectHealth = NIOLockedValueBox<[SiteKey: ConnectHealth]>([:])
    /// Sends taken from the store's shared buckets and not used yet.
    nonisolated let sharedSends = SharedSends()
    /// Where the back-off's jitter comes from (a test passes a seeded generator).
    nonisolated let randomness: DeliveryRandomness
    private nonisolated let summary: NIOLockedValueBox<Summary>
    /// `machine.isHalted`, readable by workers off the actor between two messages.
    nonisolated let halted = NIOLockedValueBox(false)
    /// When each paused site may be sent to again, readable by workers between two
    /// messages: every worker of a site stops at its next message, not only the one whose
    /// reply caused the pause.
    private nonisolated let pausedUntil: NIOLockedValueBox<[SiteKey: ContinuousClock.Instant]>
    private nonisolated let progress: NIOLockedValueBox<(@Sendable (Summary) -> Void)?>

    /// - Parameters:
    ///   - connector: opens a session to a destination (tests and the relay use the
    ///     default, `SMTPConnection.connect`).
    ///   - clock: the time of pacing, back-off, waits and the store's records.
    public init(store: any DeliveryStore, router: Router, renderer: any MessageRenderer,
                policy: DeliveryPolicy<ContinuousClock.Instant>, settings: Settings,
                connector: SMTPConnector? = nil, random: (any RandomNumberGenerator & Sendable)? = nil,
                clock: DeliveryClock = .system, logger: Logger = Logger(label: "salvo.delivery")) {
        randomness = DeliveryRandomness(random)
        self.store = store
        self.router = router
        self.renderer = renderer
        self.policy = NIOLockedValueBox(policy)
        summary = NIOLockedValueBox(Summary())
        progress = NIOLockedValueBox(nil)
        self.settings = settings
        self.clock = clock
        self.logger = logger
        machine = Machine(settings: settings.machine)
        pausedUntil = NIOLockedValueBox([:])
        if let connector {
            self.connector = { _, _, _ in connector }
        } else {
            let sessions = DeliveryConnector(mx: settings.mx, relay: settings.relay)
            self.connector = { via, requireTLS, source in
                sessions.connector(via: via, requireTLS: requireTLS, sourceAddress: source)
            }
        }
    }

    /// Asks a running `run` to stop claiming; it returns once the transactions in flight
    /// are recorded.
    public func stop() async {
        stopped = true
        await perform(machine.stopRequested())
    }

    /// Work the pass runs in its task group.
    private enum Job: Sendable {
        case claim(limit: Int, excluding: Set<String>)
        case work(SiteKey)
        case checkIdle
    }

    /// Sends what is due of `campaign`. `onProgress` is called now and then with the
    /// counts so far.
    public func run(campaign: Int64, onProgress: (@Sendable (Summary) -> Void)? = nil) async throws -> Summary {
        progress.withLockedValue { $0 = onProgress }
        summary.withLockedValue { $0 = Summary() }
        // One pass takes what is due when it starts: a recipient deferred during the pass
        // waits for the next one (or for `waitForRetries`), however long this pass runs.
        let passStart = clock.date()
        let owner = settings.owner
        try await store.heartbeat(owner: owner, now: clock.date())
        let recovered = try await store.recoverAbandoned(campaign: campaign, owner: owner, now: clock.date())
        summary.withLockedValue { $0.recovered = recovered }
        let committer = StoreCommitter(store: store, owner: owner, batchSize: settings.outcomeBatch,
                                       retryDelays: settings.commitRetryDelays, now: clock.date)
        self.committer = committer
        machine = Machine(settings: settings.machine)
        failure = nil
        let (jobs, jobQueue) = AsyncStream.makeStream(of: Job.self)
        self.jobs = jobQueue

        let watcher = Task { [store, clock] in
            // Pause, resume and cancel arrive through the store; the heartbeat keeps
            // this engine's claims from being taken for a dead sender's.
            while !Task.isCancelled {
                guard (try? await clock.sleep(until: clock.now + .seconds(1))) != nil else { return }
                try? await store.heartbeat(owner: owner, now: clock.date())
                if let control = try? await store.campaignControl(campaign: campaign) { await self.controlChanged(control) }
                try? await committer.flush()
            }
        }
        defer { watcher.cancel() }

        await withDiscardingTaskGroup { group in
            await perform(machine.start())
            if stopped { await perform(machine.stopRequested()) }
            for await job in jobs {
                switch job {
                case .claim(let limit, let excluding):
                    let dueBy = settings.waitForRetries ? clock.date() : passStart
                    group.addTask { await self.claim(campaign: campaign, limit: limit, excluding: excluding, dueBy: dueBy) }
                case .work(let site):
                    group.addTask { await self.work(site: site, committer: committer) }
                case .checkIdle:
                    group.addTask { await self.checkIdle(campaign: campaign, committer: committer) }
                }
            }
        }
        // The machine finished with nothing in flight; effects still running (a hand-back
        // after a pause) end before the last commit, and so does the watcher: a commit of
        // its own beside the last one would hold outcomes the store refused out of
        // `unrecorded` while it retries.
        await quieten()
        watcher.cancel()
        await watcher.value
        self.jobs = nil
        retryTimer?.cancel()
        retryTimer = nil
        if let failure {
            try? await committer.flush()
            committer.close()
            await shutdownPools()
            throw failure
        }
        defer { committer.close() }
        do {
            try await committer.flush()
        } catch {
            logger.error("recording the last outcomes failed: \(error)")
        }
        let lost = committer.unrecorded
        for outcome in lost {
            logger.error("the outcome of delivery \(outcome.deliveryID) could not be recorded: \(outcome.state.rawValue), \(outcome.response ?? "")")
        }
        summary.withLockedValue { $0.lostOutcomes = lost.count }
        await shutdownPools()
        try await store.signOff(owner: owner)
        _ = try await store.finishIfComplete(campaign: campaign, now: clock.date())
        let finalControl = machine.control
        let result = summary.withLockedValue { summary in
            if finalControl != .running { summary.stoppedBy = finalControl }
            return summary
        }
        progress.withLockedValue { $0 }?(result)
        return result
    }

    /// Keeps the first sender failure of the run for the summary.
    nonisolated func recordSenderFailure(_ failure: SenderFailure) {
        summary.withLockedValue { summary in
            if summary.senderFailure == nil { summary.senderFailure = failure }
        }
    }

    private func controlChanged(_ value: CampaignControl) async {
        await perform(machine.controlChanged(value))
    }

    // MARK: - Running the machine's actions

    /// Runs the machine's actions in order. Work that takes long (claims, workers) goes
    /// to the pass's task group; the machine's state is never held across an await here,
    /// each later event sees the state as it is then.
    func perform(_ actions: [Machine.Action]) async {
        halted.withLockedValue { $0 = machine.isHalted }
        guard !actions.isEmpty else { return }
        performing += 1
        defer {
            performing -= 1
            if performing == 0, let quiet {
                self.quiet = nil
                quiet.resume()
            }
        }
        for action in actions {
            switch action {
            case .claim(let limit, let excluding):
                jobs?.yield(.claim(limit: limit, excluding: excluding))
            case .settle(let deliveries, let settlement):
                guard let committer else { continue }
                for delivery in deliveries {
                    await finish(delivery, settlement.state, code: settlement.code, enhanced: settlement.enhanced,
                                 response: settlement.response, mxHost: nil, messageID: nil, suppress: settlement.suppress,
                                 committer: committer)
                }
            case .handBack(let deliveries):
                do {
                    try await store.release(deliveries.map(\.id), owner: settings.owner)
                } catch {
                    // Still `claimed`: sign-off (or the next sender's recovery) hands them back.
                    logger.error("handing back \(deliveries.count) deliveries: \(error)")
                }
            case .makePool(let spec):
                let gate = FirstConnectGate()
                // One lane per source address, each with the site's connections.
                let sources: [String?] = spec.sourceAddresses.isEmpty ? [nil] : spec.sourceAddresses
                let connectors = sources.map { watched(connector(spec.via, spec.requireTLS, $0), site: spec.site, gate: gate) }
                pools[spec.site] = SitePool(
                    site: spec.siteName, destinations: spec.destinations, maxConnections: spec.connections,
                    messagesPerConnection: spec.messagesPerConnection,
                    // The site's and the global connection limits hold for every sender of
                    // this store, not only this process.
                    leases: .shared(store, owner: settings.owner, site: spec.site, siteConnections: spec.connections,
                                    sourceAddresses: spec.sourceAddresses,
                                    globalConnections: policy.withLockedValue { $0.limits.global.connections }, now: clock.date),
                    clock: clock, connectors: connectors)
            case .startWorker(let site):
                jobs?.yield(.work(site))
            case .stopSite(let site, let log):
                connectHealth.withLockedValue { $0[site, default: ConnectHealth()].stopped = true }
                wakeSleepers(of: site)
                if let log { logger.warning("\(log)") }
            case .wakeAllSleepers:
                wakeSleepers()
            case .checkIdle:
                jobs?.yield(.checkIdle)
            case .startTimer(let delay):
                let deadline = clock.now + delay
                retryTimer = Task { [clock] in
                    guard (try? await clock.sleep(until: deadline)) != nil else { return }
                    await self.timerFired()
                }
            case .cancelTimer:
                retryTimer?.cancel()
                retryTimer = nil
            case .hold(let hold):
                summary.withLockedValue { $0.heldBy = hold }
            case .finish:
                jobs?.finish()
            }
        }
    }

    /// Returns once no `perform` is running its effects.
    private func quieten() async {
        guard performing > 0 else { return }
        await withCheckedContinuation { quiet = $0 }
    }

    private func timerFired() async {
        retryTimer = nil
        await perform(machine.timerFired())
    }

    /// Ends the pass after an error of the store: the workers stop at their next message,
    /// and `run` throws it once what was on the wire is recorded.
    private func fail(_ error: any Error) async {
        if failure == nil { failure = error }
        await perform(machine.stopRequested())
    }

    // MARK: - Claims and routes

    /// Claims a batch and asks for each domain's route once (not once per recipient).
    private func claim(campaign: Int64, limit: Int, excluding: Set<String>, dueBy: Date) async {
        let claimed: [ClaimedDelivery]
        do {
            claimed = try await store.claimDue(campaign: campaign, now: dueBy, limit: limit, owner: settings.owner,
                                               excludingDomains: excluding)
        } catch {
            await perform(machine.claimed([]))
            await fail(error)
            return
        }
        var routes: [String: Machine.Routing] = [:]
        var routed: [(ClaimedDelivery, Machine.Routing)] = []
        routed.reserveCapacity(claimed.count)
        for delivery in claimed {
            if let known = routes[delivery.domain] {
                routed.append((delivery, known))
                continue
            }
            let routing = routing(await router.route(delivery.domain), domain: delivery.domain)
            routes[delivery.domain] = routing
            routed.append((delivery, routing))
        }
        await perform(machine.claimed(routed))
    }

    /// A route as the machine takes it: a domain with pool settings of its own
    /// (`limits.domains`) is split out of the site it shares, with its own line, pool
    /// and workers.
    private func routing(_ route: Route, domain: String) -> Machine.Routing {
        switch route {
        case .bounce(let reason):
            return .bounce(reason)
        case .deferral(let reason):
            return .deferral(reason)
        case .deliver(let siteName, let destinations, let via):
            let shared = DeliveryConnector.site(of: siteName, destinations: destinations)
            let (effective, concurrency) = policy.withLockedValue { policy in
                let effective = policy.limits.resolve(domain: domain, site: shared)
                return (effective, policy.concurrency(for: effective.site) ?? effective.connections)
            }
            let spec = Machine.PoolSpec(site: effective.site, siteName: siteName, destinations: destinations, via: via,
                                        connections: effective.connections,
                                        messagesPerConnection: effective.messagesPerConnection,
                                        requireTLS: effective.requireTLS, sourceAddresses: effective.sourceAddresses)
            // Each source address holds the site's connections: as many workers as all of them.
            return .deliver(spec, concurrency: concurrency * max(1, effective.sourceAddresses.count))
        }
    }

    /// Nothing is left in the pass: is sending held, and when does the next retry fall due?
    private func checkIdle(campaign: Int64, committer: StoreCommitter) async {
        do {
            let hold = try await store.sendingHold(now: clock.date())
            var nextDue: Duration?
            if hold == nil, settings.waitForRetries, let next = try await store.nextDueAt(campaign: campaign) {
                try await committer.flush()
                nextDue = .seconds(next.timeIntervalSince(clock.date()))
            }
            await perform(machine.idleChecked(hold: hold, nextDue: nextDue))
        } catch {
            await perform(machine.idleChecked(hold: nil, nextDue: nil))
            await fail(error)
        }
    }

    // MARK: - Workers

    /// What a worker does next for its site.
    private enum Next: Sendable {
        case send([Admitted], SitePool)
        case wait(ClaimedDelivery, until: ContinuousClock.Instant)
        case done
    }

    /// Deliveries a worker takes from its site's line at once: one actor hop for several
    /// messages, where a hop per message cost more than the message.
    private static let takeAtOnce = 16

    private func next(for site: SiteKey) async -> Next {
        let now = clock.now
        let sharesMessages = renderer.sharesMessages
        let (step, actions) = policy.withLockedValue { policy in
            machine.workerReady(site: site, limit: Self.takeAtOnce, sharesMessages: sharesMessages, now: now, policy: &policy)
        }
        let pool = pools[site]
        await perform(actions)
        switch step {
        case .done:
            return .done
        case .wait(let delivery, let until):
            return .wait(delivery, until: until)
        case .send(let batch):
            guard let pool else {
                await putBack(batch.map(\.delivery), site: site)
                return .done
            }
            return .send(batch, pool)
        }
    }

    /// One worker of `site`: at most as many run as the site may have connections. It
    /// runs off the engine's actor, so messages render on every core while the actor only
    /// keeps the books.
    private nonisolated func work(site: SiteKey, committer: StoreCommitter) async {
        while true {
            switch await next(for: site) {
            case .done:
                return
            case .wait(let delivery, let until):
                await sleep(until: until, site: site)
                await putBack([delivery], site: site)
            case .send(let batch, let pool):
                await send(batch, pool: pool, site: site, committer: committer)
            }
        }
    }

    /// Puts deliveries a worker took but did not send back at the head of its site's
    /// line; a site stopped meanwhile settles them as it settles its line.
    func putBack(_ deliveries: [ClaimedDelivery], site: SiteKey) async {
        await perform(machine.putBack(deliveries, site: site))
    }

    /// Hands `deliveries` back to the store unsent and leaves their domains alone for the
    /// rest of the pass (a wait longer than `longestWait`).
    func handBackForLater(_ deliveries: [ClaimedDelivery]) async {
        await perform(machine.handBackForLater(deliveries))
    }

    /// Wakes the workers waiting for a pause of `site` to end (every site's when nil).
    private func wakeSleepers(of site: SiteKey? = nil) {
        if let site {
            for sleeper in sleepers.removeValue(forKey: site) ?? [] { sleeper.cancel() }
        } else {
            for sleeper in sleepers.values.joined() { sleeper.cancel() }
            sleepers.removeAll()
        }
    }

    func sleep(until: ContinuousClock.Instant, site: SiteKey) async {
        guard machine.stoppedSites[site] == nil, !machine.isHalted else { return }
        let sleeper = Task<Void, Never> { [clock] in try? await clock.sleep(until: until) }
        sleepers[site, default: []].append(sleeper)
        await sleeper.value
        sleepers[site]?.removeAll { $0 == sleeper }
    }

    private func shutdownPools() async {
        for pool in pools.values { await pool.shutdown() }
        pools.removeAll()
    }

    nonisolated func isPaused(_ site: SiteKey) -> Bool {
        let now = clock.now
        return pausedUntil.withLockedValue { paused in paused[site].map { $0 > now } ?? false }
    }

    /// Applies the policy's reaction to a reply; true when it paused the site.
    nonisolated func apply(_ action: AdaptiveBackoff<ContinuousClock.Instant>.Action, site: SiteKey) async -> Bool {
        switch action {
        case .none:
            return false
        case .setConcurrency(let concurrency):
            await setMaxConnections(concurrency, site: site)
            return false
        case .pause(let until, let concurrency):
            pausedUntil.withLockedValue { $0[site] = until }
            await setMaxConnections(concurrency, site: site)
            return true
        }
    }

    private func setMaxConnections(_ connections: Int, site: SiteKey) async {
        await pools[site]?.setMaxConnections(connections)
    }

    /// Turns a disposition into the recorded outcome: a deferral gets its next attempt
    /// from the retry policy, or fails when the recipient has waited long enough. `session`
    /// is the connection the outcome came from a reply on, if any: its TLS and source
    /// address are recorded with the attempt.
    nonisolated func finish(_ delivery: ClaimedDelivery, _ initial: DeliveryState, code: Int?, enhanced: String?,
                            response: String, mxHost: String?, messageID: String?, suppress: Bool,
                            committer: StoreCommitter, retryAt: Date? = nil, session: SMTPConnection? = nil) async {
        let now = clock.date()
        var state = initial
        var next: Date?
        var text = response
        if state == .deferred, let retryAt {
            next = retryAt
        } else if state == .deferred {
            switch settings.retry.next(afterAttempts: delivery.attempts + 1, firstAttempt: delivery.firstAttemptAt ?? now, now: now) {
            case .retry(let at): next = at
            case .giveUp:
                state = .failed
                text = "given up after \(delivery.attempts + 1) attempts: \(response)"
            }
        }
        let counts = summary.withLockedValue { summary in
            switch state {
            case .sent: summary.sent += 1
            case .deferred: summary.deferred += 1
            case .bounced: summary.bounced += 1
            case .unknown: summary.unknown += 1
            default: summary.failed += 1
            }
            // A copy (its strings and failure retained) only for every hundredth
            // outcome, the ones the progress line shows.
            return summary.attempts % 100 == 0 ? summary : nil
        }
        let outcome = DeliveryOutcome(deliveryID: delivery.id, state: state, code: code, enhancedCode: enhanced,
                                      response: text, mxHost: mxHost, messageID: messageID, attemptedAt: now, nextAttemptAt: next,
                                      tlsVersion: session?.tlsVersion, certificateVerified: session?.certificateVerified,
                                      sourceAddress: session?.localAddress)
        do {
            if committer.record(outcome, suppress: suppress && state == .bounced) { try await committer.flush() }
        } catch {
            logger.error("recording the outcome of delivery \(delivery.id) failed: \(error)")
        }
        if let counts { progress.withLockedValue { $0 }?(counts) }
    }
}

