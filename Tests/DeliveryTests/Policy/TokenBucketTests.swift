@testable import Delivery
import Testing
import TestPeers

@Suite struct TokenBucketTests {
    @Test func theBurstIsOneSecondsShareAtLeastOne() {
        #expect(TokenBucket<FakeInstant>.burst(for: Rate(count: 2000, per: 1)) == 2000)
        #expect(TokenBucket<FakeInstant>.burst(for: Rate(count: 3000, per: 60)) == 50)
        #expect(TokenBucket<FakeInstant>.burst(for: Rate(count: 90, per: 60)) == 1)
        #expect(TokenBucket<FakeInstant>.burst(for: Rate(count: 100, per: 3600)) == 1)
        #expect(TokenBucket<FakeInstant>.burst(for: Rate(count: 1, per: 86_400)) == 1)
    }

    @Test func aFullBucketSendsItsBurstThenPacesTheRest() {
        var bucket = TokenBucket<FakeInstant>(rate: Rate(count: 5, per: 1))
        let t0 = FakeInstant.start
        for _ in 0..<5 { #expect(bucket.take(now: t0) == .proceed) }
        #expect(bucket.take(now: t0) == .wait(until: .milliseconds(200)))
        // Asking again early takes nothing and gives the same answer.
        #expect(bucket.take(now: .milliseconds(100)) == .wait(until: .milliseconds(200)))
        #expect(bucket.take(now: .milliseconds(200)) == .proceed)
        #expect(bucket.take(now: .milliseconds(200)) == .wait(until: .milliseconds(400)))
        // After a quiet spell the bucket is full again, and no fuller.
        let later = FakeInstant.seconds(10)
        for _ in 0..<5 { #expect(bucket.take(now: later) == .proceed) }
        #expect(bucket.take(now: later) == .wait(until: later.advanced(by: .milliseconds(200))))
    }

    @Test func slowRatesSendOneAtATime() {
        var bucket = TokenBucket<FakeInstant>(rate: Rate(count: 100, per: 3600))
        #expect(bucket.take(now: .start) == .proceed)
        #expect(bucket.take(now: .start) == .wait(until: .seconds(36)))
        #expect(bucket.earliest(now: .seconds(1)) == .seconds(36))
        #expect(bucket.take(now: .seconds(36)) == .proceed)
    }

    /// A greedy sender against several rates over a simulated minute: in no window of
    /// length W do more than `burst + rate × W` messages proceed, and the sender still
    /// gets close to the full rate.
    @Test(arguments: [Rate(count: 5, per: 1), Rate(count: 3000, per: 60), Rate(count: 120, per: 60), Rate(count: 7, per: 3)])
    func neverMoreThanTheRateAndTheBurstInAnyWindow(rate: Rate) {
        var generator = SeededGenerator(seed: UInt64(rate.count * 1000 + rate.per))
        var bucket = TokenBucket<FakeInstant>(rate: rate)
        var now = FakeInstant.start
        let end = FakeInstant.seconds(60)
        var sent: [FakeInstant] = []
        var nextIdle = FakeInstant.seconds(5)
        while now < end {
            switch bucket.take(now: now) {
            case .proceed:
                sent.append(now)
                // Every few seconds go quiet for a while (the bucket refills), otherwise
                // ask again at once.
                if now >= nextIdle {
                    now = now.advanced(by: .milliseconds(Int64.random(in: 1...3000, using: &generator)))
                    nextIdle = now.advanced(by: .milliseconds(Int64.random(in: 2000...8000, using: &generator)))
                }
            case .wait(let until):
                #expect(until > now)
                // Sometimes wake exactly on time, sometimes a little late.
                now = until.advanced(by: .milliseconds(Int64.random(in: 0...2, using: &generator) == 0 ? 5 : 0))
            }
        }
        let burst = TokenBucket<FakeInstant>.burst(for: rate)
        for window in [Duration.milliseconds(250), .seconds(1), .seconds(rate.per), .seconds(10)] {
            let allowed = burst + Int((window / Duration.seconds(rate.per)) * Double(rate.count))
            var busiest = 0
            var lower = 0
            for upper in sent.indices {
                while sent[upper].offset - sent[lower].offset > window { lower += 1 }
                busiest = max(busiest, upper - lower + 1)
            }
            #expect(busiest <= allowed, "\(rate): \(busiest) messages in \(window), allowed \(allowed)")
        }
        // Idle spells aside, the sender is not starved: at least half the nominal rate.
        #expect(Double(sent.count) >= 0.5 * 60 * rate.perSecond, "\(rate): only \(sent.count) in 60 s")
        #expect(Double(sent.count) <= Double(burst) + 60 * rate.perSecond)
    }

    @Test func raisingTheRateDoesNotWaitOutTheOldPace() {
        var bucket = TokenBucket<FakeInstant>(rate: Rate(count: 1, per: 3600))
        #expect(bucket.take(now: .start) == .proceed)
        #expect(bucket.take(now: .seconds(1)) == .wait(until: .seconds(3600)))
        bucket.setRate(Rate(count: 100, per: 1))
        #expect(bucket.rate == Rate(count: 100, per: 1))
        #expect(bucket.take(now: .seconds(1)) == .proceed)
    }

    @Test func loweringTheRateHandsOutNoFreshBurst() {
        var bucket = TokenBucket<FakeInstant>(rate: Rate(count: 10, per: 1))
        for _ in 0..<10 { #expect(bucket.take(now: .start) == .proceed) }
        bucket.setRate(Rate(count: 1, per: 60))
        // Ten messages went out; at one a minute that is ten minutes' allowance.
        #expect(bucket.take(now: .seconds(1)) == .wait(until: .seconds(600)))
        #expect(bucket.take(now: .seconds(600)) == .proceed)
        #expect(bucket.take(now: .seconds(601)) == .wait(until: .seconds(660)))
    }

    @Test func anOverrideEndsByItself() {
        var bucket = TokenBucket<FakeInstant>(rate: Rate(count: 100, per: 1))
        bucket.override(to: Rate(count: 1, per: 60), until: .seconds(300))
        #expect(bucket.rate == Rate(count: 1, per: 60))
        #expect(bucket.take(now: .start) == .proceed)
        #expect(bucket.take(now: .seconds(1)) == .wait(until: .seconds(60)))
        // A configuration change during the override waits for it to end.
        bucket.setRate(Rate(count: 50, per: 1))
        #expect(bucket.rate == Rate(count: 1, per: 60))
        #expect(bucket.take(now: .seconds(300)) == .proceed)
        #expect(bucket.rate == Rate(count: 50, per: 1))
        #expect(bucket.overrideEnds == nil)
        for _ in 0..<49 { #expect(bucket.take(now: .seconds(300)) == .proceed) }
        #expect(bucket.take(now: .seconds(300)) != .proceed)
    }

    @Test func noRateNeverWaits() {
        var bucket = TokenBucket<FakeInstant>(rate: nil)
        for _ in 0..<10_000 { #expect(bucket.take(now: .start) == .proceed) }
        #expect(!bucket.isLimiting)
        bucket.override(to: Rate(count: 1, per: 1), until: .seconds(10))
        #expect(bucket.take(now: .start) == .proceed)
        #expect(bucket.take(now: .start) == .wait(until: .seconds(1)))
        #expect(bucket.take(now: .seconds(10)) == .proceed)
        #expect(!bucket.isLimiting)
    }
}
