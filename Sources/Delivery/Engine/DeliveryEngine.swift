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
        public var claimBatch = 500
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
    }

    let store: any DeliveryStore
    private let router: Router
    let renderer: any MessageRenderer
    /// Read and updated by the engine (admission) and by workers (replies), behind a lock
    /// rather than the actor: a worker records a reply without a hop.
    nonisolated let policy: NIOLockedValueBox<DeliveryPolicy<ContinuousClock.Instant>>
    let settings: Settings
    /// Opens sessions for a route of this kind; `true` when the site's limits require TLS.
    private let connector: @Sendable (Route.Via, Bool) -> SMTPConnector
    let logger: Logger

    private var pools: [SiteKey: SitePool] = [:]
    private var queues: [SiteKey: SiteQueue] = [:]
    private var workers: [SiteKey: Int] = [:]
    private var queued = 0
    private var excludedDomains: Set<String> = []
    /// Sites that take nothing more in this pass, and why.
    var stoppedSites: [SiteKey: SiteStop] = [:]
    /// The domains claimed for each site so far, to leave out of later claims once the
    /// site is stopped.
    private var siteDomains: [SiteKey: Set<String>] = [:]
    /// How each site is reached (a relay's TLS failure is the sender's).
    var siteVia: [SiteKey: Route.Via] = [:]
    /// Workers waiting for a site's pause to end, woken early when the site stops or the
    /// engine does.
    private var sleepers: [SiteKey: [Task<Void, Never>]] = [:]
    /// Each site's connections failed in a row and the last connect error, kept by the
    /// connector a pool opens sessions with (a success resets the count).
    nonisolated let connectHealth = NIOLockedValueBox<[SiteKey: ConnectHealth]>([:])
    /// Sends taken from the store's shared buckets and not used yet.
    nonisolated let sharedSends = SharedSends()
    /// Where the back-off's jitter comes from (a test passes a seeded generator).
    nonisolated let randomness: NIOLockedValueBox<any RandomNumberGenerator & Sendable>
    private nonisolated let summary: NIOLockedValueBox<Summary>
    private var stopping = false { didSet { updateHalted() } }
    private var control: CampaignControl = .running { didSet { updateHalted() } }
    /// `stopping || control != .running`, readable by workers off the actor between two
    /// messages.
    nonisolated let halted = NIOLockedValueBox(false)
    /// When each paused site may be sent to again, readable by workers between two
    /// messages: every worker of a site stops at its next message, not only the one whose
    /// reply caused the pause.
    private nonisolated let pausedUntil: NIOLockedValueBox<[SiteKey: ContinuousClock.Instant]>
    private nonisolated let progress: NIOLockedValueBox<(@Sendable (Summary) -> Void)?>

    /// - Parameter connector: opens a session to a destination (tests and the relay use
    ///   the default, `SMTPConnection.connect`).
    public init(store: any DeliveryStore, router: Router, renderer: any MessageRenderer,
                policy: DeliveryPolicy<ContinuousClock.Instant>, settings: Settings,
                connector: SMTPConnector? = nil, random: (any RandomNumberGenerator & Sendable)? = nil,
                logger: Logger = Logger(label: "salvo.delivery")) {
        randomness = NIOLockedValueBox(random ?? SystemRandomNumberGenerator())
        self.store = store
        self.router = router
        self.renderer = renderer
        self.policy = NIOLockedValueBox(policy)
        summary = NIOLockedValueBox(Summary())
        progress = NIOLockedValueBox(nil)
        self.settings = settings
        self.logger = logger
        pausedUntil = NIOLockedValueBox([:])
        if let connector {
            self.connector = { _, _ in connector }
        } else {
            let sessions = DeliveryConnector(mx: settings.mx, relay: settings.relay)
            self.connector = { via, requireTLS in sessions.connector(via: via, requireTLS: requireTLS) }
        }
    }

    /// Asks a running `run` to stop claiming; it returns once the transactions in flight
    /// are recorded.
    public func stop() {
        stopping = true
        wakeSleepers()
    }

    /// Sends what is due of `campaign`. `onProgress` is called now and then with the
    /// counts so far.
    public func run(campaign: Int64, onProgress: (@Sendable (Summary) -> Void)? = nil) async throws -> Summary {
        progress.withLockedValue { $0 = onProgress }
        summary.withLockedValue { $0 = Summary() }
        // One pass takes what is due when it starts: a recipient deferred during the pass
        // waits for the next one (or for `waitForRetries`), however long this pass runs.
        let passStart = Date()
        let owner = settings.owner
        try await store.heartbeat(owner: owner, now: Date())
        let recovered = try await store.recoverAbandoned(campaign: campaign, owner: owner, now: Date())
        summary.withLockedValue { $0.recovered = recovered }
        let committer = StoreCommitter(store: store, owner: owner, batchSize: settings.outcomeBatch,
                                       retryDelays: settings.commitRetryDelays)

        let watcher = Task { [store] in
            // Pause, resume and cancel arrive through the store; the heartbeat keeps
            // this engine's claims from being taken for a dead sender's.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                try? await store.heartbeat(owner: owner, now: Date())
                if let control = try? await store.campaignControl(campaign: campaign) { self.controlChanged(control) }
                try? await committer.flush()
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
                    let claimed = try await store.claimDue(campaign: campaign, now: settings.waitForRetries ? Date() : passStart, limit: settings.claimBatch,
                                                           owner: owner, excludingDomains: excludedDomains)
                    if claimed.isEmpty {
                        if queued > 0 || workers.values.contains(where: { $0 > 0 }) {
                            try await Task.sleep(for: .milliseconds(20))
                            continue
                        }
                        // A spent quota ends the pass, even under waitForRetries.
                        if let hold = try await store.sendingHold(now: Date()) {
                            summary.withLockedValue { $0.heldBy = hold }
                            break
                        }
                        guard settings.waitForRetries, let next = try await store.nextDueAt(campaign: campaign) else { break }
                        try await committer.flush()
                        let wait = max(0.05, min(next.timeIntervalSinceNow, 5))
                        try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                        continue
                    }
                    // One routing question per domain of the batch, not one per recipient.
                    var routes: [String: Route] = [:]
                    var handBack: [ClaimedDelivery] = []
                    for delivery in claimed {
                        let route: Route
                        if let known = routes[delivery.domain] {
                            route = known
                        } else {
                            route = await router.route(delivery.domain)
                            routes[delivery.domain] = route
                        }
                        await dispatch(delivery, route: route, group: &group, handBack: &handBack, committer: committer)
                    }
                    if !handBack.isEmpty { try await store.release(handBack.map(\.id), owner: owner) }
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
            try? await committer.flush()
            committer.close()
            await shutdownPools()
            throw error
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
        _ = try await store.finishIfComplete(campaign: campaign, now: Date())
        let finalControl = control
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

    private func updateHalted() {
        let value = stopping || control != .running
        halted.withLockedValue { $0 = value }
    }

    private func controlChanged(_ value: CampaignControl) {
        if value == .paused || value == .cancelled { control = value }
    }

    // MARK: - Routing and queues

    /// Queues `delivery` for its site, or settles it at once: a route that bounces or
    /// defers it, a site suspended in this pass (deferred), a route stopped by a sender
    /// failure (added to `handBack`, released by the caller in one call).
    private func dispatch(_ delivery: ClaimedDelivery, route: Route, group: inout ThrowingDiscardingTaskGroup<Error>,
                          handBack: inout [ClaimedDelivery], committer: StoreCommitter) async {
        switch route {
        case .bounce(let reason):
            // No such domain, or a null MX: the address can never receive mail.
            await finish(delivery, .bounced, code: nil, enhanced: nil, response: reason,
                         mxHost: nil, messageID: nil, suppress: true, committer: committer)
        case .deferral(let reason):
            await finish(delivery, .deferred, code: nil, enhanced: nil, response: reason, mxHost: nil, messageID: nil,
                         suppress: false, committer: committer)
        case .deliver(let siteName, let destinations, let via):
            let shared = DeliveryConnector.site(of: siteName, destinations: destinations)
            // A domain with pool settings of its own (`limits.domains`) is split out of the
            // site it shares: its own line, pool and workers.
            let effective = policy.withLockedValue { $0.limits.resolve(domain: delivery.domain, site: shared) }
            let site = effective.site
            siteDomains[site, default: []].insert(delivery.domain)
            siteVia[site] = via
            switch stoppedSites[site] {
            case .suspended(let reason)?:
                excludedDomains.insert(delivery.domain)
                await finish(delivery, .deferred, code: reason.code, enhanced: reason.enhanced, response: reason.text,
                             mxHost: nil, messageID: nil, suppress: false, committer: committer)
                return
            case .senderFailure?:
                excludedDomains.insert(delivery.domain)
                handBack.append(delivery)
                return
            case nil:
                break
            }
            if pools[site] == nil {
                pools[site] = SitePool(site: siteName, destinations: destinations, maxConnections: effective.connections,
                                       messagesPerConnection: effective.messagesPerConnection,
                                       // The site's and the global connection limits hold for
                                       // every sender of this store, not only this process.
                                       leases: .shared(store, owner: settings.owner, site: site,
                                                       siteConnections: effective.connections,
                                                       globalConnections: policy.withLockedValue { $0.limits.global.connections },
                                                       now: { Date() }),
                                       connector: watched(connector(via, effective.requireTLS), site: site))
            }
            queues[site, default: SiteQueue()].append(delivery)
            queued += 1
            let limit = policy.withLockedValue { $0.concurrency(for: site) } ?? effective.connections
            if workers[site, default: 0] < limit {
                workers[site, default: 0] += 1
                group.addTask { await self.work(site: site, committer: committer) }
            }
        }
    }

    /// What a worker does next for its site.
    private enum Next: Sendable {
        /// Send these, in order, each reported against its limits' site.
        case send([Admitted], SitePool)
        /// The first in line may not go before `until`.
        case wait(ClaimedDelivery, until: ContinuousClock.Instant)
        /// Nothing left (or stopping): the worker ends.
        case done
    }

    struct Admitted: Sendable {
        var delivery: ClaimedDelivery
        /// The site the policy counts this message's reply against (`Effective.site`).
        var limitsSite: SiteKey
    }

    /// Takes up to `limit` deliveries of `site` that the policy admits now: one actor
    /// hop for several messages, where a hop per message cost more than the message.
    private func next(for site: SiteKey, limit: Int) -> Next {
        guard !(stopping || control != .running), stoppedSites[site] == nil, let pool = pools[site],
              var queue = queues.removeValue(forKey: site), !queue.isEmpty else {
            workers[site, default: 1] -= 1
            return .done
        }
        var taken: [Admitted] = []
        var waiting: (ClaimedDelivery, ContinuousClock.Instant)?
        // A shared message goes to a whole transaction's worth of recipients at once.
        var limit = limit
        if renderer.sharesMessages, let first = queue.first {
            limit = max(limit, policy.withLockedValue { $0.limits.resolve(domain: first.domain, site: site).recipientsPerTransaction })
        }
        while taken.count < limit, let delivery = queue.first {
            switch policy.withLockedValue({ $0.admit(domain: delivery.domain, site: site, now: .now) }) {
            case .proceed(let effective):
                taken.append(Admitted(delivery: delivery, limitsSite: effective.site))
                _ = queue.popFirst()
                queued -= 1
                continue
            case .wait(let until):
                if taken.isEmpty {
                    _ = queue.popFirst()
                    queued -= 1
                    waiting = (delivery, until)
                }
            }
            break
        }
        queues[site] = queue
        if let waiting { return .wait(waiting.0, until: waiting.1) }
        return .send(taken, pool)
    }

    /// Puts deliveries a worker took but did not send back at the head of its site's
    /// line; a site stopped meanwhile settles them as it settles its line.
    func putBack(_ deliveries: [ClaimedDelivery], site: SiteKey, committer: StoreCommitter) async {
        guard !deliveries.isEmpty else { return }
        if let stop = stoppedSites[site] {
            await settle(deliveries, stop: stop, committer: committer)
            return
        }
        queues[site, default: SiteQueue()].pushFront(deliveries)
        queued += deliveries.count
    }

    /// Takes `site`'s whole line out of the queues (the site stopped).
    func drainQueue(of site: SiteKey) -> [ClaimedDelivery] {
        guard let queue = queues.removeValue(forKey: site) else { return [] }
        let held = Array(queue.remaining)
        queued -= held.count
        return held
    }

    /// Leaves every domain claimed for `site` out of the pass's later claims.
    func excludeDomains(of site: SiteKey) {
        excludedDomains.formUnion(siteDomains[site] ?? [])
    }

    /// Wakes the workers waiting for a pause of `site` to end (every site's when nil).
    func wakeSleepers(of site: SiteKey? = nil) {
        if let site {
            for sleeper in sleepers.removeValue(forKey: site) ?? [] { sleeper.cancel() }
        } else {
            for sleeper in sleepers.values.joined() { sleeper.cancel() }
            sleepers.removeAll()
        }
    }

    func sleep(until: ContinuousClock.Instant, site: SiteKey) async {
        guard stoppedSites[site] == nil, !stopping else { return }
        let sleeper = Task<Void, Never> { try? await Task.sleep(until: until, clock: .continuous) }
        sleepers[site, default: []].append(sleeper)
        await sleeper.value
        sleepers[site]?.removeAll { $0 == sleeper }
    }

    func exclude(domain: String) {
        excludedDomains.insert(domain)
    }

    private func releaseQueued() async throws {
        let held = queues.values.flatMap { $0.remaining }
        queues.removeAll()
        queued = 0
        if !held.isEmpty { try await store.release(held.map(\.id), owner: settings.owner) }
    }

    private func shutdownPools() async {
        for pool in pools.values { await pool.shutdown() }
        pools.removeAll()
    }

    // MARK: - Sending

    /// Deliveries a worker takes from its site's line at once.
    private static let takeAtOnce = 16

    /// One worker of `site`: at most as many run as the site may have connections. It
    /// runs off the engine's actor, so messages render on every core while the actor only
    /// keeps the books.
    private nonisolated func work(site: SiteKey, committer: StoreCommitter) async {
        while true {
            switch await next(for: site, limit: Self.takeAtOnce) {
            case .done:
                return
            case .wait(let delivery, let until):
                if until - .now > settings.longestWait {
                    // A long suspension: hand it back and leave the domain alone this run.
                    await exclude(domain: delivery.domain)
                    do {
                        try await store.release([delivery.id], owner: settings.owner)
                    } catch {
                        logger.error("delivery \(delivery.id) to \(delivery.email): \(error)")
                    }
                } else {
                    await sleep(until: until, site: site)
                    await putBack([delivery], site: site, committer: committer)
                }
            case .send(let batch, let pool):
                await send(batch, pool: pool, site: site, committer: committer)
            }
        }
    }

    nonisolated func isPaused(_ site: SiteKey) -> Bool {
        let now = ContinuousClock.now
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
    /// from the retry policy, or fails when the recipient has waited long enough. `tls` is
    /// the session's, when the outcome came from a reply on one.
    nonisolated func finish(_ delivery: ClaimedDelivery, _ initial: DeliveryState, code: Int?, enhanced: String?,
                            response: String, mxHost: String?, messageID: String?, suppress: Bool,
                            committer: StoreCommitter, retryAt: Date? = nil, tls: SMTPTLSInfo? = nil) async {
        let now = Date()
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
            return summary
        }
        let outcome = DeliveryOutcome(deliveryID: delivery.id, state: state, code: code, enhancedCode: enhanced,
                                      response: text, mxHost: mxHost, messageID: messageID, attemptedAt: now, nextAttemptAt: next,
                                      tlsVersion: tls?.version, certificateVerified: tls?.verified)
        do {
            if committer.record(outcome, suppress: suppress && state == .bounced) { try await committer.flush() }
        } catch {
            logger.error("recording the outcome of delivery \(delivery.id) failed: \(error)")
        }
        if counts.attempts % 100 == 0 { progress.withLockedValue { $0 }?(counts) }
    }
}

/// One site's line of claimed deliveries: taken from the head, in claim order, without
/// moving the rest (an array's `removeFirst` copied the whole line for every message).
private struct SiteQueue: Sendable {
    private var items: [ClaimedDelivery] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var first: ClaimedDelivery? { isEmpty ? nil : items[head] }
    var remaining: ArraySlice<ClaimedDelivery> { items[head...] }

    mutating func append(_ delivery: ClaimedDelivery) {
        if head > 0, head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        items.append(delivery)
    }

    mutating func popFirst() -> ClaimedDelivery? {
        guard !isEmpty else { return nil }
        let delivery = items[head]
        head += 1
        if head >= 1024, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return delivery
    }

    mutating func pushFront(_ deliveries: [ClaimedDelivery]) {
        if head >= deliveries.count {
            head -= deliveries.count
            items.replaceSubrange(head..<(head + deliveries.count), with: deliveries)
        } else {
            items.replaceSubrange(0..<head, with: deliveries)
            head = 0
        }
    }
}
