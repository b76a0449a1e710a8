@testable import Delivery
import SMTP
import Testing
import TestPeers

@Suite struct AdaptiveBackoffTests {
    typealias Backoff = AdaptiveBackoff<FakeInstant>

    /// No jitter, so the pauses can be read exactly.
    func steady(_ maxConcurrency: Int, successesPerStep: Int = 3) -> Backoff {
        Backoff(.init(maxConcurrency: maxConcurrency, successesPerStep: successesPerStep, jitter: 1...1))
    }

    @Test func aSignalHalvesConcurrencyAndPauses() {
        var generator = SeededGenerator(seed: 1)
        var site = steady(10)
        #expect(site.throttled(now: .start, using: &generator) == .pause(until: .seconds(30), concurrency: 5))
        #expect(site.isPaused(now: .seconds(29)))
        #expect(!site.isPaused(now: .seconds(30)))
        #expect(site.throttled(now: .seconds(30), using: &generator) == .pause(until: .seconds(90), concurrency: 2))
        #expect(site.throttled(now: .seconds(90), using: &generator) == .pause(until: .seconds(210), concurrency: 1))
        // Never below one connection.
        #expect(site.throttled(now: .seconds(210), using: &generator) == .pause(until: .seconds(450), concurrency: 1))
    }

    @Test func pausesDoubleUpToTheCap() {
        var generator = SeededGenerator(seed: 2)
        var site = steady(4)
        var now = FakeInstant.start
        var pauses: [Duration] = []
        for _ in 0..<10 {
            guard case .pause(let until, _) = site.throttled(now: now, using: &generator) else {
                Issue.record("no pause")
                return
            }
            pauses.append(now.duration(to: until))
            now = until
        }
        #expect(pauses == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800, 1800].map { Duration.seconds($0) })
    }

    @Test func signalsDuringAPauseAreEchoesAndIgnored() {
        var generator = SeededGenerator(seed: 3)
        var site = steady(8)
        #expect(site.throttled(now: .start, using: &generator) == .pause(until: .seconds(30), concurrency: 4))
        for second in 1..<30 {
            #expect(site.throttled(now: .seconds(Double(second)), using: &generator) == .none)
        }
        #expect(site.concurrency == 4)
        #expect(site.escalation == 1)
    }

    @Test func successesRestoreConcurrencyStepByStep() {
        var generator = SeededGenerator(seed: 4)
        var site = steady(4, successesPerStep: 3)
        _ = site.throttled(now: .start, using: &generator)
        _ = site.throttled(now: .seconds(30), using: &generator)
        #expect(site.concurrency == 1)
        let after = FakeInstant.seconds(100)
        // Successes from before the pause ended do not count.
        #expect(site.succeeded(now: .seconds(60)) == .none)
        var actions: [Backoff.Action] = []
        for _ in 0..<9 { actions.append(site.succeeded(now: after)) }
        #expect(actions.filter { $0 != .none } == [.setConcurrency(2), .setConcurrency(3), .setConcurrency(4)])
        #expect(site.concurrency == 4)
        // The escalation is remembered until a clean streak at full concurrency…
        #expect(site.escalation == 2)
        for _ in 0..<3 { _ = site.succeeded(now: after) }
        #expect(site.escalation == 0)
        // …so the next signal pauses for the first interval again.
        #expect(site.throttled(now: after, using: &generator) == .pause(until: after.advanced(by: .seconds(30)), concurrency: 2))
    }

    @Test func jitterShortensPausesWithinTheCap() {
        var generator = SeededGenerator(seed: 5)
        var now = FakeInstant.start
        var site = Backoff(maxConcurrency: 5)
        var pauses: [Duration] = []
        for _ in 0..<12 {
            guard case .pause(let until, _) = site.throttled(now: now, using: &generator) else { return }
            pauses.append(now.duration(to: until))
            now = until
        }
        #expect(pauses[0] >= .seconds(22.5) && pauses[0] <= .seconds(30))
        #expect(pauses.allSatisfy { $0 <= .seconds(1800) })
        #expect(pauses.suffix(4).allSatisfy { $0 >= .seconds(1350) })
        #expect(Set(pauses.suffix(4)).count > 1, "jitter spreads equal pauses")
    }

    @Test func aSuspensionKeepsTheLongerPause() {
        var generator = SeededGenerator(seed: 6)
        var site = steady(6)
        _ = site.throttled(now: .start, using: &generator)
        #expect(site.suspend(until: .seconds(7200)) == .pause(until: .seconds(7200), concurrency: 3))
        #expect(site.suspend(until: .seconds(60)) == .none)
        #expect(site.isPaused(now: .seconds(7199)))
        #expect(site.setMaxConcurrency(2) == .setConcurrency(2))
        #expect(site.setMaxConcurrency(20) == .none)
        #expect(site.concurrency == 2)
    }

    /// A 421 storm at one site: every transaction there gets 421 for ten minutes while
    /// the other site accepts everything. Only the stormy site slows down.
    @Test func aStormAtOneSiteSlowsOnlyThatSite() {
        var generator = SeededGenerator(seed: 7)
        let stormy = SiteKey(mxHosts: ["mx.stormy.test"])
        let calm = SiteKey(mxHosts: ["mx.calm.test"])
        var sites: [SiteKey: Backoff] = [stormy: Backoff(maxConcurrency: 10), calm: Backoff(maxConcurrency: 10)]
        let storm = SMTPReply(code: 421, enhancedCode: EnhancedStatusCode("4.7.0"), lines: ["Try again later, closing connection"])
        let ok = SMTPReply(code: 250, enhancedCode: EnhancedStatusCode("2.0.0"), lines: ["OK"])

        var attempts: [SiteKey: Int] = [:]
        var now = FakeInstant.start
        while now < .seconds(600) {
            for site in [stormy, calm] {
                guard var machine = sites[site], !machine.isPaused(now: now) else { continue }
                // One transaction per allowed connection per simulated second.
                for _ in 0..<machine.concurrency {
                    attempts[site, default: 0] += 1
                    let reply = site == stormy ? storm : ok
                    if ReplyClassification(reply: reply).isThrottleSignal {
                        _ = machine.throttled(now: now, using: &generator)
                    } else {
                        _ = machine.succeeded(now: now)
                    }
                }
                sites[site] = machine
            }
            now = now.advanced(by: .seconds(1))
        }
        #expect(sites[calm]?.concurrency == 10)
        #expect(sites[calm]?.pausedUntil == nil)
        #expect(attempts[calm] == 6000)
        #expect(sites[stormy]?.concurrency == 1)
        // 10 + 5 + 2 + 1 + 1 + 1… one burst per pause, pauses of 30 s doubling.
        #expect((attempts[stormy] ?? 0) < 40, "stormy site tried \(attempts[stormy] ?? 0) times")
    }
}
