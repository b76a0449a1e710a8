/// A rate limit for one scope (a site, a domain, or the whole process): at most `rate`
/// on average, with a burst of at most one second's share.
///
/// It is a token bucket kept as the generic cell rate algorithm (GCRA, ITU-T I.371):
/// instead of a token count refilled by a timer it stores one instant, the "theoretical
/// arrival time" of the next message, and does exact `Duration` arithmetic — no
/// floating-point drift, no refill loop, O(1) per decision. It is equivalent to a bucket
/// of `burst` tokens refilled at `rate`: in any window of length W at most
/// `burst + W × rate` messages proceed.
///
/// The burst is one second's share of the rate, at least 1: `2000/s` may send 2000 at
/// once, `3000/min` 50, `100/hour` 1 (then one every 36 s). Sending a whole hour's
/// allowance in the first second is exactly what the providers' per-hour limits exist
/// to stop.
///
/// Time comes in through `now`, so tests drive it with a simulated clock; the engine
/// passes `ContinuousClock.now`.
public struct TokenBucket<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public enum Decision: Sendable, Hashable {
        /// A token was taken: send now.
        case proceed
        /// No token: ask again at this instant (nothing was taken).
        case wait(until: Instant)
    }

    /// The rate in force now (the configured one, or a temporary override); nil for no
    /// limit, when every take proceeds.
    public private(set) var rate: Rate?
    /// The configured rate, restored when a temporary override ends.
    public private(set) var configuredRate: Rate?
    /// When the temporary override (from `override(to:until:)`) ends.
    public private(set) var overrideEnds: Instant?
    /// The most messages that may go at once (Int.max without a rate).
    public private(set) var burst: Int

    /// Time between two messages at `rate` (zero without a rate).
    private var interval: Duration
    /// GCRA's theoretical arrival time: when the next message would be due if messages
    /// went exactly at `rate`. Nil until the first take (a fresh bucket is full).
    private var due: Instant?
    /// When the last token was taken; a rate change rescales the debt from there.
    private var lastTake: Instant?

    /// A bucket for `rate`; nil makes a bucket that never waits (until an override).
    public init(rate: Rate?) {
        self.rate = nil
        self.configuredRate = rate
        self.burst = .max
        self.interval = .zero
        apply(rate)
    }

    /// One second's share of `rate`, at least 1.
    public static func burst(for rate: Rate) -> Int {
        max(1, min(rate.count, rate.count / rate.per))
    }

    private static func interval(for rate: Rate) -> Duration {
        .seconds(rate.per) / rate.count
    }

    /// How far ahead of schedule the bucket lets a sender run: the burst.
    private var tolerance: Duration { interval * (burst - 1) }

    /// The earliest instant at which a take would proceed. Does not take.
    public func earliest(now: Instant) -> Instant {
        var copy = self
        copy.expireOverride(now: now)
        guard copy.rate != nil, let due = copy.due else { return now }
        let allowed = due.advanced(by: .zero - copy.tolerance)
        return allowed > now ? allowed : now
    }

    /// Takes one token if there is one.
    public mutating func take(now: Instant) -> Decision {
        expireOverride(now: now)
        guard rate != nil else { return .proceed }
        let allowed = earliest(now: now)
        if allowed > now { return .wait(until: allowed) }
        let start = due.map { $0 > now ? $0 : now } ?? now
        due = start.advanced(by: interval)
        lastTake = now
        return .proceed
    }

    /// Changes the configured rate from now on (a configuration reload, or the engine's
    /// own decision); nil lifts the limit. Messages already sent stay counted: the
    /// backlog they left is re-expressed at the new rate, so raising `1/hour` to `100/s`
    /// does not wait out the old hour, and lowering the rate hands out no fresh burst.
    /// During an override the new rate waits for the override to end.
    public mutating func setRate(_ newRate: Rate?) {
        configuredRate = newRate
        if overrideEnds == nil { apply(newRate) }
    }

    /// Runs at `newRate` until `until`, then returns to the configured rate by itself
    /// (a deferral rule's "throttle to 10/min for 30m").
    public mutating func override(to newRate: Rate, until: Instant) {
        overrideEnds = until
        apply(newRate)
    }

    /// Ends a temporary override now.
    public mutating func endOverride() {
        overrideEnds = nil
        apply(configuredRate)
    }

    /// Whether the bucket can ever make a caller wait: false for a bucket with no rate
    /// and no override, which a caller may drop.
    public var isLimiting: Bool { rate != nil }

    private mutating func expireOverride(now: Instant) {
        if let ends = overrideEnds, now >= ends { endOverride() }
    }

    private mutating func apply(_ newRate: Rate?) {
        guard let newRate else {
            rate = nil
            burst = .max
            interval = .zero
            due = nil
            lastTake = nil
            return
        }
        precondition(newRate.count > 0 && newRate.per > 0, "a rate needs a positive count and period, got \(newRate)")
        let newInterval = Self.interval(for: newRate)
        if rate != nil, let due, let lastTake, due > lastTake {
            // The debt, counted in messages at the old pace, repaid at the new one.
            let messages = lastTake.duration(to: due) / interval
            self.due = lastTake.advanced(by: newInterval * messages)
        }
        rate = newRate
        burst = Self.burst(for: newRate)
        interval = newInterval
    }
}
