import Foundation

/// The arithmetic of one `SharedLimits` send budget, for every store to keep the same way:
/// `TokenBucket`'s algorithm (GCRA) over a value a store can hold in a row, the
/// theoretical arrival time of the next send (`due`, Unix seconds) and the spacing it was
/// computed at (`interval`). Pure: the store reads the row, calls `take`, writes `due` and
/// `interval` back in the same transaction.
///
/// The bound is `TokenBucket`'s, whatever the number of takers: in any window of W
/// seconds at most `burst + W × rate` sends, the burst being one second's share of the
/// rate (at least 1).
public struct SendBudget: Sendable, Equatable {
    public var due: Double
    public var interval: Double

    public init(due: Double, interval: Double) {
        self.due = due
        self.interval = interval
    }

    /// Sends within this fraction of an interval of being due go now: Unix seconds held
    /// in a Double are exact to about 2.4e-7 s, so a send due "now" may come out a hair
    /// later, and would otherwise be put off by one whole step of its taker.
    static let slack = 1e-4

    /// Takes up to `count` sends at `now` (Unix seconds) from `budget` (nil: a key never
    /// used, whose bucket is full). Returns what was granted, the budget to store, and
    /// when fewer than `count` were granted, the earliest time one more may be.
    public static func take(_ count: Int, rate: Rate, now: Double, from budget: SendBudget?)
        -> (granted: Int, budget: SendBudget, retryAt: Double?) {
        let interval = Double(rate.per) / Double(rate.count)
        let tolerance = interval * Double(TokenBucket<ContinuousClock.Instant>.burst(for: rate) - 1)
        var due = budget?.due ?? now
        // Spaced at another rate (the configuration changed): the debt, in sends at the old
        // spacing, is repaid at the new one, as `TokenBucket.setRate` does.
        if let budget, budget.interval > 0, budget.interval != interval, due > now {
            due = now + (due - now) / budget.interval * interval
        }
        let start = max(due, now)
        // Send i of this take may go when start + i × interval − tolerance ≤ now.
        let ahead = (now + tolerance - start) / interval
        let fits = ahead < -slack ? 0 : Int((ahead + slack).rounded(.down)) + 1
        let granted = max(0, min(count, fits))
        let next = start + Double(granted) * interval
        return (granted, SendBudget(due: next, interval: interval), granted < count ? max(now, next - tolerance) : nil)
    }
}
