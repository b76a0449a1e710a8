import SMTP

extension DeliveryEngine {
    /// The engine's bookkeeping for one pass, with no I/O and no clock of its own: events
    /// come in (deliveries claimed and routed, a worker ready for more, deliveries put back,
    /// a connection failed, the sender's setup failed, a stop or a pause, a timer fired,
    /// the store's answer when nothing is left) and actions go out (claim, settle, hand
    /// back, make a pool, start a worker, wake sleepers, ask the store, set a timer,
    /// finish). `DeliveryEngine` runs the actions; tests drive the machine as a transcript.
    ///
    /// It keeps each site's line of claimed deliveries, the workers of each site, the
    /// sites stopped for the pass, and whether the pass still claims: the pass ends once
    /// nothing is claimed, queued or being sent, or at once when stopped, after the
    /// workers have recorded what was on the wire.
    struct StateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
        struct Settings: Sendable {
            /// Deliveries claimed at once; another claim waits while this many are queued.
            var claimBatch: Int
            /// Keep claiming as retries fall due, until every delivery is final.
            var waitForRetries: Bool
            /// Longer waits hand the delivery back for a later pass.
            var longestWait: Duration
            /// Connections a site may fail in a row before it is suspended for the pass.
            var suspendAfterFailedConnections: Int
        }

        /// How a claimed delivery's domain was routed, as the runner found it.
        enum Routing: Sendable, Equatable {
            /// No such domain, or a null MX: bounced at once, the address suppressed.
            case bounce(String)
            /// The route could not be found now (a DNS failure): deferred.
            case deferral(String)
            /// Sent through the pool of `pool.site`, by at most `concurrency` workers.
            case deliver(PoolSpec, concurrency: Int)
        }

        /// What a site's pool is made of (the runner makes it once per site).
        struct PoolSpec: Sendable, Equatable {
            /// The pool, the limits' split of the site when the domain has pool settings.
            var site: SiteKey
            var siteName: String
            var destinations: [Destination]
            var via: Route.Via
            var connections: Int
            var messagesPerConnection: Int
            var requireTLS: Bool
            /// One lane of the pool per address, each with `connections`; empty for one
            /// lane from `delivery.source_address` or the system's choice.
            var sourceAddresses: [String] = []
        }

        /// An outcome recorded without a transaction of its own.
        struct Settlement: Sendable, Equatable {
            var state: DeliveryState
            var code: Int?
            var enhanced: String?
            var response: String
            var suppress: Bool

            static func deferred(_ reason: SuspensionReason) -> Settlement {
                Settlement(state: .deferred, code: reason.code, enhanced: reason.enhanced, response: reason.text, suppress: false)
            }
        }

        enum Action: Sendable, Equatable {
            /// Claim up to `limit` due deliveries, leaving out `excluding`, route them, and
            /// report `claimed`.
            case claim(limit: Int, excluding: Set<String>)
            /// Record these outcomes (no server was talked to for them).
            case settle([ClaimedDelivery], Settlement)
            /// Give these back to the store unsent.
            case handBack([ClaimedDelivery])
            case makePool(PoolSpec)
            /// Run one more worker for the site.
            case startWorker(SiteKey)
            /// The site takes nothing more in this pass: no more connections to it, and
            /// its sleeping workers wake. `log` is said once, when it stopped.
            case stopSite(SiteKey, log: String?)
            /// Wake every worker waiting for a pause to end.
            case wakeAllSleepers
            /// Nothing is left to claim or send: ask the store whether sending is held and
            /// when the next delivery falls due, and report `idleChecked`.
            case checkIdle
            /// Report `timerFired` after `delay` (waiting for retries to fall due).
            case startTimer(Duration)
            case cancelTimer
            /// Sending is held by the store (the daily quota): the pass ends with it.
            case hold(SendingHold)
            /// The pass is over: nothing is claimed, queued or on the wire.
            case finish
        }

        /// What a worker does next.
        enum Step: Sendable, Equatable {
            /// Send these, in order.
            case send([Admitted])
            /// The first in line may not go before `until`: wait, then put it back.
            case wait(ClaimedDelivery, until: Instant)
            /// Nothing left for this worker (or the pass is stopping): it ends.
            case done
        }

        let settings: Settings
        private var queues: [SiteKey: SiteQueue] = [:]
        private(set) var queued = 0
        private var workers: [SiteKey: Int] = [:]
        private var pools: Set<SiteKey> = []
        private(set) var stoppedSites: [SiteKey: SiteStop] = [:]
        /// The domains claimed for each site so far, left out of later claims once the
        /// site stops.
        private var siteDomains: [SiteKey: Set<String>] = [:]
        private(set) var siteVia: [SiteKey: Route.Via] = [:]
        private(set) var excludedDomains: Set<String> = []
        private var stopping = false
        private(set) var control: CampaignControl = .running
        private var claiming = false
        /// A claim came back empty while work was still in flight: claim once more when
        /// it is done, instead of claiming in a loop.
        private var exhausted = false
        /// A claim waits for the queues to fall below `claimBatch`.
        private var wantsRoom = false
        private var checkingIdle = false
        private var timerSet = false
        private var finished = false

        init(settings: Settings) {
            self.settings = settings
        }

        /// Stopping, or the campaign paused or cancelled: nothing more is claimed or sent.
        var isHalted: Bool { stopping || control != .running }

        // MARK: - Claims

        mutating func start() -> [Action] {
            claiming = true
            return [.claim(limit: settings.claimBatch, excluding: excludedDomains)]
        }

        /// A claim came back with `deliveries`, each with how its domain routes.
        mutating func claimed(_ deliveries: [(ClaimedDelivery, Routing)]) -> [Action] {
            claiming = false
            if deliveries.isEmpty {
                if isBusy {
                    exhausted = true
                    return []
                }
                return afterProgress()
            }
            exhausted = false
            var actions: [Action] = []
            var handBack: [ClaimedDelivery] = []
            for (delivery, routing) in deliveries {
                switch routing {
                case .bounce(let reason):
                    actions.append(.settle([delivery], Settlement(state: .bounced, response: reason, suppress: true)))
                case .deferral(let reason):
                    actions.append(.settle([delivery], Settlement(state: .deferred, response: reason, suppress: false)))
                case .deliver(let spec, let concurrency):
                    let site = spec.site
                    siteDomains[site, default: []].insert(delivery.domain)
                    siteVia[site] = spec.via
                    switch stoppedSites[site] {
                    case .suspended(let reason)?:
                        excludedDomains.insert(delivery.domain)
                        actions.append(.settle([delivery], .deferred(reason)))
                        continue
                    case .senderFailure?:
                        excludedDomains.insert(delivery.domain)
                        handBack.append(delivery)
                        continue
                    case nil:
                        break
                    }
                    if isHalted {
                        handBack.append(delivery)
                        continue
                    }
                    if pools.insert(site).inserted { actions.append(.makePool(spec)) }
                    queues[site, default: SiteQueue()].append(delivery)
                    queued += 1
                    if workers[site, default: 0] < concurrency {
                        workers[site, default: 0] += 1
                        actions.append(.startWorker(site))
                    }
                }
            }
            if !handBack.isEmpty { actions.append(.handBack(handBack)) }
            if isHalted { return actions + afterProgress() }
            if queued < settings.claimBatch {
                claiming = true
                actions.append(.claim(limit: settings.claimBatch, excluding: excludedDomains))
            } else {
                wantsRoom = true
            }
            return actions
        }

        /// The store's answer once nothing was left: sending held (`hold`), or the next
        /// delivery's due time (`nextDue`, from now), if any.
        mutating func idleChecked(hold: SendingHold?, nextDue: Duration?) -> [Action] {
            checkingIdle = false
            if isHalted { return afterProgress() }
            if let hold {
                finished = true
                return [.hold(hold), .finish]
            }
            guard settings.waitForRetries, let nextDue else {
                finished = true
                return [.finish]
            }
            timerSet = true
            return [.startTimer(min(max(nextDue, .milliseconds(50)), .seconds(5)))]
        }

        /// The retry timer fired: claim what has fallen due.
        mutating func timerFired() -> [Action] {
            guard timerSet else { return [] }
            timerSet = false
            if isHalted { return afterProgress() }
            claiming = true
            return [.claim(limit: settings.claimBatch, excluding: excludedDomains)]
        }

        // MARK: - Workers

        /// A worker of `site` asks for work: up to `limit` deliveries the policy admits
        /// now (a shared message takes a whole transaction's worth). A delivery that would
        /// wait longer than `longestWait` goes back to the store and its domain is left
        /// alone for the pass.
        mutating func workerReady(site: SiteKey, limit: Int, sharesMessages: Bool, now: Instant,
                                  policy: inout DeliveryPolicy<Instant>) -> (Step, [Action]) {
            guard !isHalted, stoppedSites[site] == nil, var queue = queues.removeValue(forKey: site), !queue.isEmpty else {
                workers[site, default: 1] -= 1
                return (.done, afterProgress())
            }
            var limit = limit
            if sharesMessages, let first = queue.first {
                limit = max(limit, policy.limits.resolve(domain: first.domain, site: site).recipientsPerTransaction)
            }
            var taken: [Admitted] = []
            var waiting: (ClaimedDelivery, Instant)?
            var handBack: [ClaimedDelivery] = []
            admission: while taken.count < limit, let delivery = queue.first {
                switch policy.admit(domain: delivery.domain, site: site, now: now) {
                case .proceed(let effective):
                    taken.append(Admitted(delivery: delivery, limitsSite: effective.site,
                                          siteRate: effective.siteRate, domainRate: effective.domainRate))
                    _ = queue.popFirst()
                    queued -= 1
                case .wait(let until) where now.duration(to: until) > settings.longestWait:
                    // A long suspension: hand it back, and leave the domain alone this pass.
                    excludedDomains.insert(delivery.domain)
                    handBack.append(delivery)
                    _ = queue.popFirst()
                    queued -= 1
                case .wait(let until):
                    if taken.isEmpty {
                        _ = queue.popFirst()
                        queued -= 1
                        waiting = (delivery, until)
                    }
                    break admission
                }
            }
            queues[site] = queue
            var actions: [Action] = handBack.isEmpty ? [] : [.handBack(handBack)]
            actions += roomActions()
            if let waiting { return (.wait(waiting.0, until: waiting.1), actions) }
            if taken.isEmpty {
                // Everything in line went back to the store.
                let (step, more) = workerReady(site: site, limit: limit, sharesMessages: sharesMessages, now: now, policy: &policy)
                return (step, actions + more)
            }
            return (.send(taken), actions)
        }

        /// A worker took `deliveries` and did not send them: back to the head of the
        /// site's line, or settled as the site's stop says, or back to the store when the
        /// pass is stopping.
        mutating func putBack(_ deliveries: [ClaimedDelivery], site: SiteKey) -> [Action] {
            guard !deliveries.isEmpty else { return [] }
            if let stop = stoppedSites[site] { return settle(deliveries, stop: stop) }
            if isHalted { return [.handBack(deliveries)] }
            queues[site, default: SiteQueue()].pushFront(deliveries)
            queued += deliveries.count
            return []
        }

        /// A worker hands `deliveries` back to the store for a later pass (a shared rate
        /// would make them wait too long) and their domains are left alone meanwhile.
        mutating func handBackForLater(_ deliveries: [ClaimedDelivery]) -> [Action] {
            guard !deliveries.isEmpty else { return [] }
            for delivery in deliveries { excludedDomains.insert(delivery.domain) }
            return [.handBack(deliveries)]
        }

        // MARK: - Failures of a site or of the sender

        /// No destination of `site` gave a session for `group`: the group is deferred
        /// with `reason`, and once the site has failed `failedInARow` connections (as many
        /// as the settings allow), the site is suspended for the pass and its whole line
        /// deferred with it in one step.
        mutating func connectionFailed(site: SiteKey, reason: SuspensionReason, failedInARow: Int,
                                       group: [ClaimedDelivery]) -> [Action] {
            if stoppedSites[site] != nil { return putBack(group, site: site) }
            var actions: [Action] = group.isEmpty ? [] : [.settle(group, .deferred(reason))]
            if failedInARow >= settings.suspendAfterFailedConnections {
                let suspension = SuspensionReason(
                    text: "site \(site) suspended for this run after \(failedInARow) failed connections in a row: \(reason.text)",
                    code: reason.code, enhanced: reason.enhanced)
                stoppedSites[site] = .suspended(suspension)
                excludeDomains(of: site)
                actions.append(.stopSite(site, log: suspension.text))
                let line = drainQueue(of: site)
                if !line.isEmpty { actions.append(.settle(line, .deferred(suspension))) }
            }
            return actions
        }

        /// The sender's own setup failed on `site`'s route: the route stops once, and
        /// `handBack` and the site's whole line go back to the store unsent.
        mutating func senderFailed(site: SiteKey, handBack: [ClaimedDelivery], failure: String) -> [Action] {
            let first = stoppedSites[site] == nil
            stoppedSites[site] = .senderFailure
            excludeDomains(of: site)
            let back = handBack + drainQueue(of: site)
            var actions: [Action] = [.stopSite(site, log: first ? "route to \(site) stopped: \(failure)" : nil)]
            if !back.isEmpty { actions.append(.handBack(back)) }
            return actions
        }

        // MARK: - Stopping

        /// Ctrl-C or SIGTERM: claim nothing more, hand back the lines, let the
        /// transactions in flight finish.
        mutating func stopRequested() -> [Action] {
            guard !stopping else { return [] }
            let wasHalted = isHalted
            stopping = true
            return wasHalted ? afterProgress() : halt()
        }

        /// The campaign's control as the store says now: a pause or a cancel stops the
        /// pass as a stop does (the store decides what becomes of the rest).
        mutating func controlChanged(_ value: CampaignControl) -> [Action] {
            guard value == .paused || value == .cancelled, control == .running else { return [] }
            let wasHalted = isHalted
            control = value
            return wasHalted ? afterProgress() : halt()
        }

        private mutating func halt() -> [Action] {
            var actions: [Action] = [.wakeAllSleepers]
            let held = queues.values.flatMap { $0.remaining }
            queues.removeAll()
            queued = 0
            wantsRoom = false
            if !held.isEmpty { actions.append(.handBack(held)) }
            if timerSet {
                timerSet = false
                actions.append(.cancelTimer)
            }
            return actions + afterProgress()
        }

        // MARK: - Inside

        private var isBusy: Bool { queued > 0 || workers.values.contains { $0 > 0 } }

        /// What follows from the work left: the end of the pass once nothing is claimed,
        /// queued, sent or waited for; one more claim after an empty one when the last
        /// worker is done; asking the store once that claim is empty too.
        private mutating func afterProgress() -> [Action] {
            guard !finished, !claiming, !checkingIdle, !timerSet, !isBusy else { return [] }
            if isHalted {
                finished = true
                return [.finish]
            }
            if exhausted {
                exhausted = false
                claiming = true
                return [.claim(limit: settings.claimBatch, excluding: excludedDomains)]
            }
            checkingIdle = true
            return [.checkIdle]
        }

        /// A claim that waited for room goes once the lines are short enough.
        private mutating func roomActions() -> [Action] {
            guard wantsRoom, !claiming, !isHalted, queued < settings.claimBatch else { return [] }
            wantsRoom = false
            claiming = true
            return [.claim(limit: settings.claimBatch, excluding: excludedDomains)]
        }

        private mutating func settle(_ deliveries: [ClaimedDelivery], stop: SiteStop) -> [Action] {
            switch stop {
            case .suspended(let reason): [.settle(deliveries, .deferred(reason))]
            case .senderFailure: [.handBack(deliveries)]
            }
        }

        private mutating func drainQueue(of site: SiteKey) -> [ClaimedDelivery] {
            guard let queue = queues.removeValue(forKey: site) else { return [] }
            let held = Array(queue.remaining)
            queued -= held.count
            return held
        }

        private mutating func excludeDomains(of site: SiteKey) {
            excludedDomains.formUnion(siteDomains[site] ?? [])
        }
    }

    struct Admitted: Sendable, Equatable {
        var delivery: ClaimedDelivery
        /// The site the policy counts this message's reply against (`Effective.site`).
        var limitsSite: SiteKey
        /// The site's and the domain's rates as the admission resolved them: the sends
        /// the store's shared budgets are asked for, without resolving the limits again.
        var siteRate: Rate?
        var domainRate: Rate?
    }
}
