import Foundation

/// When a deferred recipient goes again, and when Salvo stops trying.
///
/// The schedule is a list of intervals between attempts; the last one repeats (`[15m]`
/// retries every 15 minutes, `[5m, 15m, 1h]` waits 5 minutes, then 15, then every hour).
/// A recipient whose first attempt is older than `maxAge` is given up (`failed`), as
/// Postfix does with `maximal_queue_lifetime`. The policy is pure: the caller passes the
/// attempt count and the times, so the store's clock is the only clock.
///
/// Defaults (15 minutes, 4 hours) follow DESIGN.md: short enough that greylisting
/// (typically 1 to 15 minutes) costs one retry, long enough to outlast a provider's
/// rate-limit window. Config keys: `retry.intervals`, `retry.max_age`.
public struct RetryPolicy: Sendable, Hashable {
    /// Waits between attempts; never empty, every value positive.
    public private(set) var intervals: [Duration]
    /// How long after the first attempt a recipient may still be tried.
    public var maxAge: Duration

    public static let defaultIntervals: [Duration] = [.seconds(15 * 60)]
    public static let defaultMaxAge: Duration = .seconds(4 * 3600)
    public static let `default` = RetryPolicy()

    /// Empty or non-positive intervals fall back to the default schedule, so a policy
    /// can never retry in a tight loop.
    public init(intervals: [Duration] = RetryPolicy.defaultIntervals, maxAge: Duration = RetryPolicy.defaultMaxAge) {
        let usable = intervals.filter { $0 > .zero }
        self.intervals = usable.isEmpty ? Self.defaultIntervals : usable
        self.maxAge = maxAge
    }

    /// The policy from configured durations (`retry.intervals`, `retry.max_age`).
    public init(intervals: [ConfiguredDuration], maxAge: ConfiguredDuration) {
        self.init(intervals: intervals.map(\.duration), maxAge: maxAge.duration)
    }

    public enum Decision: Sendable, Hashable {
        /// Defer: set `next_attempt_at` to this time.
        case retry(at: Date)
        /// The recipient is older than `maxAge`: mark it `failed`.
        case giveUp
    }

    /// What to do after a temporary failure.
    ///
    /// - Parameters:
    ///   - attempts: attempts made so far, including the one that just failed (1 after
    ///     the first failure). The wait after attempt *n* is `intervals[n - 1]`, or the
    ///     last interval once the list runs out.
    ///   - firstAttempt: when the recipient was first tried.
    ///   - now: when the failed attempt ended.
    ///
    /// The deadline is `firstAttempt + maxAge`. A failure at or after the deadline gives
    /// up. Before it, the next attempt is never scheduled past the deadline: when the
    /// next interval would overshoot it, the last attempt happens at the deadline itself,
    /// so the whole `max_age` window is used and a recipient is never tried after it.
    public func next(afterAttempts attempts: Int, firstAttempt: Date, now: Date) -> Decision {
        let deadline = firstAttempt.addingTimeInterval(maxAge.timeInterval)
        if now >= deadline { return .giveUp }
        let index = min(max(attempts, 1), intervals.count) - 1
        let proposed = now.addingTimeInterval(intervals[index].timeInterval)
        return .retry(at: min(proposed, deadline))
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`, for arithmetic with `Date`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
