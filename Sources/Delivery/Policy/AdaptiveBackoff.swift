/// How hard one site may be pushed right now: its concurrency and whether it is paused.
/// One machine per site, so a site that says "slow down" slows down alone; every other
/// site carries on at full speed.
///
/// - A throttle signal (`ReplyClassification.isThrottleSignal`: 421, 4.7.x, "rate",
///   "too many", …) halves the concurrency (at least 1) and pauses the site: 30 s the
///   first time, doubling on each signal after the previous pause (60 s, 2 min, …),
///   capped at 30 minutes — multiplicative decrease, as TCP does, because a provider's
///   rate limiter tells us only that we are over, not by how much.
/// - Signals that arrive while the site is paused are echoes of transactions that
///   started before the pause, and are ignored: ten connections hitting one 421 storm
///   halve the site once, not ten times.
/// - Successes restore it step by step: every `successesPerStep` successes in a row
///   (outside a pause) add one connection back, up to the configured maximum (additive
///   increase); a full streak at the maximum forgets the escalation, so the next signal
///   pauses for the first interval again.
/// - Each pause is shortened by a random factor from `jitter` (a generator is passed in,
///   so tests are repeatable), so that many sites paused by one event do not all come
///   back in the same second.
///
/// Deferral rules pause a site for their own duration through `suspend(until:)`.
public struct AdaptiveBackoff<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public struct Configuration: Sendable, Hashable {
        /// The site's `connections` limit: the concurrency it starts at and returns to.
        public var maxConcurrency: Int
        public var firstPause: Duration
        public var maxPause: Duration
        /// Consecutive successes that earn one connection back.
        public var successesPerStep: Int
        /// Each pause is multiplied by a random factor from this range (within 0...1, so
        /// that the cap holds).
        public var jitter: ClosedRange<Double>

        public init(maxConcurrency: Int, firstPause: Duration = .seconds(30), maxPause: Duration = .seconds(30 * 60),
                    successesPerStep: Int = 10, jitter: ClosedRange<Double> = 0.75...1.0) {
            self.maxConcurrency = max(1, maxConcurrency)
            self.firstPause = firstPause
            self.maxPause = max(firstPause, maxPause)
            self.successesPerStep = max(1, successesPerStep)
            self.jitter = max(0, min(1, jitter.lowerBound))...max(0, min(1, jitter.upperBound))
        }
    }

    public enum Action: Sendable, Hashable {
        /// Nothing changes.
        case none
        /// Open no new transaction before `until`; afterwards use at most `concurrency`
        /// connections (close the surplus as their transactions end).
        case pause(until: Instant, concurrency: Int)
        /// Use at most this many connections from now on.
        case setConcurrency(Int)
    }

    public private(set) var configuration: Configuration
    /// Connections the site may use now.
    public private(set) var concurrency: Int
    /// The end of the current pause, if one was ordered (it may lie in the past).
    public private(set) var pausedUntil: Instant?
    /// Signals since the site last ran clean at full concurrency: the pause exponent.
    public private(set) var escalation: Int = 0
    private var successes: Int = 0

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        self.concurrency = configuration.maxConcurrency
    }

    public init(maxConcurrency: Int) {
        self.init(Configuration(maxConcurrency: maxConcurrency))
    }

    public func isPaused(now: Instant) -> Bool {
        guard let pausedUntil else { return false }
        return now < pausedUntil
    }

    /// The site sent a throttle signal.
    public mutating func throttled(now: Instant, using generator: inout some RandomNumberGenerator) -> Action {
        if isPaused(now: now) { return .none }
        concurrency = max(1, concurrency / 2)
        successes = 0
        var pause = configuration.firstPause
        for _ in 0..<escalation where pause < configuration.maxPause {
            pause = pause * 2
        }
        pause = min(pause, configuration.maxPause)
        let factor = Double.random(in: configuration.jitter, using: &generator)
        if factor < 1 { pause = pause * factor }
        escalation += 1
        let until = now.advanced(by: pause)
        pausedUntil = until
        return .pause(until: until, concurrency: concurrency)
    }

    /// A transaction at this site succeeded.
    public mutating func succeeded(now: Instant) -> Action {
        // Successes reported during a pause belong to transactions from before it.
        if isPaused(now: now) { return .none }
        successes += 1
        guard successes >= configuration.successesPerStep else { return .none }
        successes = 0
        if concurrency < configuration.maxConcurrency {
            concurrency += 1
            return .setConcurrency(concurrency)
        }
        escalation = 0
        return .none
    }

    /// Pauses the site until `until` (a deferral rule's suspend action), keeping the
    /// longer of this and any pause already running. The concurrency is left alone.
    public mutating func suspend(until: Instant) -> Action {
        if let pausedUntil, pausedUntil >= until { return .none }
        pausedUntil = until
        successes = 0
        return .pause(until: until, concurrency: concurrency)
    }

    /// A new `connections` limit (a configuration reload). The current concurrency
    /// never exceeds it.
    public mutating func setMaxConcurrency(_ maximum: Int) -> Action {
        configuration.maxConcurrency = max(1, maximum)
        guard concurrency > configuration.maxConcurrency else { return .none }
        concurrency = configuration.maxConcurrency
        return .setConcurrency(concurrency)
    }
}
