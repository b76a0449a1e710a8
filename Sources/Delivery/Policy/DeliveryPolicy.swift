import SMTP

/// The pace of every site in one place: the limits, the rate buckets, each site's
/// adaptive back-off and the deferral rules, driven by two events — "may I send to this
/// domain at this site now?" and "this is what the site replied". The engine keeps one
/// (under its lock), runs the actions, and does no policy arithmetic of its own.
///
/// It holds no clock and no random source: `now` and the generator come in with each
/// event, so a test drives it with a simulated clock. The retry schedule is separate
/// (`RetryPolicy`), because it works in wall-clock `Date`s the store keeps, while pacing
/// works in a monotonic clock's instants.
public struct DeliveryPolicy<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public let limits: SiteLimits
    /// The user's rules first, then (unless left out) `DeferralRule.defaults`.
    public let rules: [DeferralRule]
    /// Back-off settings besides the concurrency, which comes from each site's limits.
    public let backoff: AdaptiveBackoff<Instant>.Configuration
    public private(set) var throttles: Throttles<Instant>
    public private(set) var sites: [SiteKey: AdaptiveBackoff<Instant>] = [:]
    /// Each site's layered settings, so patterns are matched once per site, not once
    /// per message.
    private var siteSettings: [SiteKey: SiteLimits.SiteSettings] = [:]

    public init(limits: SiteLimits, rules: [DeferralRule] = [], includeDefaultRules: Bool = true,
                backoff: AdaptiveBackoff<Instant>.Configuration = .init(maxConcurrency: 1)) {
        self.limits = limits
        self.rules = includeDefaultRules ? rules + DeferralRule.defaults : rules
        self.backoff = backoff
        self.throttles = Throttles(globalRate: limits.global.rate)
    }

    public enum Admission: Sendable, Hashable {
        /// Send now, under these limits; report the reply against `limits.site`.
        case proceed(SiteLimits.Effective)
        /// Not before this instant (a pause, a suspension, or a rate limit).
        case wait(until: Instant)
    }

    /// Whether one message for a recipient of `domain`, routed to `site`, may go now.
    /// A `.proceed` has taken its place in every rate bucket.
    public mutating func admit(domain: String, site: SiteKey, now: Instant) -> Admission {
        let settings: SiteLimits.SiteSettings
        if let known = siteSettings[site] {
            settings = known
        } else {
            settings = limits.settings(for: site)
            siteSettings[site] = settings
        }
        let effective = limits.resolve(domain: domain, site: site, settings: settings)
        let machine = backoffMachine(for: effective)
        if let until = machine.pausedUntil, until > now { return .wait(until: until) }
        switch throttles.take(effective, domain: domain, now: now) {
        case .proceed: return .proceed(effective)
        case .wait(let until): return .wait(until: until)
        }
    }

    /// Connections `site` may use now: its `connections` limit, lowered by back-off.
    public func concurrency(for site: SiteKey) -> Int? {
        sites[site]?.concurrency
    }

    /// Sites paused or suspended at `now`, with the end of each pause: the domains
    /// routed to them are the ones to leave out of the next claim
    /// (`DeliveryStore.claimDue(excludingDomains:)`) when the pause is long.
    public func pausedSites(now: Instant) -> [SiteKey: Instant] {
        var paused: [SiteKey: Instant] = [:]
        for (site, machine) in sites {
            if let until = machine.pausedUntil, until > now { paused[site] = until }
        }
        return paused
    }

    /// What one reply meant, and what the engine must do about the site.
    public struct Reaction: Sendable, Hashable {
        public var classification: ReplyClassification
        /// The deferral rule that matched, if any.
        public var rule: DeferralRule?
        /// The site's new pace: `.pause(until:concurrency:)` (stop opening transactions
        /// until then) or `.setConcurrency(n)`; `.none` for no change.
        public var site: AdaptiveBackoff<Instant>.Action
    }

    /// Records a reply from `site` (the `Effective.site` of the admission) and returns
    /// what it means. Order: a throttle signal feeds the back-off (halve, pause); then a
    /// matching deferral rule throttles the site's rate or extends the pause to its own
    /// duration; a success counts towards restoring concurrency.
    public mutating func replied(_ reply: SMTPReply, stage: ReplyClassification.Stage = .recipient, site: SiteKey, now: Instant,
                                 using generator: inout some RandomNumberGenerator) -> Reaction {
        let classification = ReplyClassification(reply: reply, stage: stage)
        var machine = sites[site] ?? AdaptiveBackoff(configuration(maxConcurrency: limits.default.connections ?? 1))
        var action: AdaptiveBackoff<Instant>.Action = .none
        if classification.disposition == .sent {
            action = machine.succeeded(now: now)
        } else if classification.isThrottleSignal {
            action = machine.throttled(now: now, using: &generator)
        }
        let rule = classification.disposition == .sent ? nil : DeferralRule.firstMatch(in: rules, reply: reply, site: site)
        switch rule?.action {
        case .throttle(let rate, let duration)?:
            throttles.override(site: site, to: rate, until: now.advanced(by: duration))
        case .suspend(let duration)?:
            let suspended = machine.suspend(until: now.advanced(by: duration))
            if suspended != .none { action = suspended }
        case nil:
            break
        }
        sites[site] = machine
        return Reaction(classification: classification, rule: rule, site: action)
    }

    /// Records a failure without a reply (connection refused, timeout, TLS, a 421 at
    /// the greeting carried in the error). Only a throttle signal changes the pace:
    /// an unreachable host is the retry policy's business, not the rate's.
    public mutating func failed(_ error: SMTPError, site: SiteKey, now: Instant,
                                using generator: inout some RandomNumberGenerator) -> Reaction {
        if let reply = error.reply, error.code != .connectionClosedAfterData {
            var reaction = replied(reply, stage: .session, site: site, now: now, using: &generator)
            reaction.classification = ReplyClassification(error: error)
            return reaction
        }
        let classification = ReplyClassification(error: error)
        var action: AdaptiveBackoff<Instant>.Action = .none
        if classification.isThrottleSignal {
            var machine = sites[site] ?? AdaptiveBackoff(configuration(maxConcurrency: limits.default.connections ?? 1))
            action = machine.throttled(now: now, using: &generator)
            sites[site] = machine
        }
        return Reaction(classification: classification, rule: nil, site: action)
    }

    private mutating func backoffMachine(for effective: SiteLimits.Effective) -> AdaptiveBackoff<Instant> {
        if var machine = sites[effective.site] {
            if machine.configuration.maxConcurrency != effective.connections {
                _ = machine.setMaxConcurrency(effective.connections)
                sites[effective.site] = machine
            }
            return machine
        }
        let machine = AdaptiveBackoff<Instant>(configuration(maxConcurrency: effective.connections))
        sites[effective.site] = machine
        return machine
    }

    private func configuration(maxConcurrency: Int) -> AdaptiveBackoff<Instant>.Configuration {
        var configuration = backoff
        configuration.maxConcurrency = max(1, maxConcurrency)
        return configuration
    }
}
