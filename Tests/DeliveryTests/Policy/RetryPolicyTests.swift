@testable import Delivery
import Foundation
import Testing

@Suite struct RetryPolicyTests {
    let first = Date(timeIntervalSince1970: 1_800_000_000)

    func at(_ minutes: Double) -> Date { first.addingTimeInterval(minutes * 60) }

    @Test func defaultRetriesEveryFifteenMinutesForFourHours() {
        let policy = RetryPolicy.default
        #expect(policy.intervals == [.seconds(900)])
        #expect(policy.maxAge == .seconds(4 * 3600))
        #expect(policy.next(afterAttempts: 1, firstAttempt: first, now: first) == .retry(at: at(15)))
        #expect(policy.next(afterAttempts: 2, firstAttempt: first, now: at(15)) == .retry(at: at(30)))
        #expect(policy.next(afterAttempts: 9, firstAttempt: first, now: at(120.5)) == .retry(at: at(135.5)))
        // The attempt at 3h45 schedules the last one at exactly 4h; that one gives up.
        #expect(policy.next(afterAttempts: 16, firstAttempt: first, now: at(225)) == .retry(at: at(240)))
        #expect(policy.next(afterAttempts: 17, firstAttempt: first, now: at(240)) == .giveUp)
    }

    @Test func aRetryIsNeverScheduledPastMaxAge() {
        let policy = RetryPolicy.default
        // 3h50: the next interval would overshoot, so the last try is at the deadline.
        #expect(policy.next(afterAttempts: 16, firstAttempt: first, now: at(230)) == .retry(at: at(240)))
        // One second before the deadline still gets its last try, at the deadline.
        let justBefore = at(240).addingTimeInterval(-1)
        #expect(policy.next(afterAttempts: 17, firstAttempt: first, now: justBefore) == .retry(at: at(240)))
        #expect(policy.next(afterAttempts: 18, firstAttempt: first, now: at(241)) == .giveUp)
    }

    @Test func customIntervalsRepeatTheLastOne() {
        let policy = RetryPolicy(intervals: [.seconds(300), .seconds(900), .seconds(3600)], maxAge: .seconds(2 * 86_400))
        #expect(policy.next(afterAttempts: 1, firstAttempt: first, now: first) == .retry(at: at(5)))
        #expect(policy.next(afterAttempts: 2, firstAttempt: first, now: at(5)) == .retry(at: at(20)))
        #expect(policy.next(afterAttempts: 3, firstAttempt: first, now: at(20)) == .retry(at: at(80)))
        #expect(policy.next(afterAttempts: 4, firstAttempt: first, now: at(80)) == .retry(at: at(140)))
        #expect(policy.next(afterAttempts: 40, firstAttempt: first, now: at(1000)) == .retry(at: at(1060)))
    }

    @Test func configuredDurationsAndUnusableIntervals() throws {
        let configured = RetryPolicy(intervals: [try #require(ConfiguredDuration("30s")), try #require(ConfiguredDuration("2h"))],
                                     maxAge: try #require(ConfiguredDuration("2d")))
        #expect(configured.intervals == [.seconds(30), .seconds(7200)])
        #expect(configured.maxAge == .seconds(172_800))
        // An empty or zero schedule would retry in a tight loop: the default applies.
        #expect(RetryPolicy(intervals: [], maxAge: .seconds(3600)).intervals == [.seconds(900)])
        #expect(RetryPolicy(intervals: [.zero], maxAge: .seconds(3600)).intervals == [.seconds(900)])
        // Attempts below 1 are read as the first.
        #expect(RetryPolicy.default.next(afterAttempts: 0, firstAttempt: first, now: first) == .retry(at: at(15)))
        // A zero max age gives up at once.
        #expect(RetryPolicy(maxAge: .zero).next(afterAttempts: 1, firstAttempt: first, now: first) == .giveUp)
    }
}
