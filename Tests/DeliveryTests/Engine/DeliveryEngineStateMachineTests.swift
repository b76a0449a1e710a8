@testable import Delivery
import Foundation
import Testing
import TestPeers

/// The engine's rules as transcripts: events in, actions out, fake instants, no store and
/// no sockets.
@Suite struct DeliveryEngineStateMachineTests {
    typealias Machine = DeliveryEngine.StateMachine<FakeInstant>

    static func machine(claimBatch: Int = 500, waitForRetries: Bool = false, suspendAfter: Int = 3) -> Machine {
        Machine(settings: .init(claimBatch: claimBatch, waitForRetries: waitForRetries, longestWait: .seconds(30),
                                suspendAfterFailedConnections: suspendAfter))
    }

    static func policy(_ limits: SiteLimits? = nil) -> DeliveryPolicy<FakeInstant> {
        DeliveryPolicy(limits: limits ?? (try! SiteLimits(presets: [:])))
    }

    static func delivery(_ id: Int64, _ domain: String) -> ClaimedDelivery {
        ClaimedDelivery(id: id, campaignID: 1, recipientID: id, email: "r\(id)@\(domain)", domain: domain,
                        attempts: 0, firstAttemptAt: nil, attributes: [:])
    }

    static let siteA = SiteKey(host: "mx.a.test", port: 25)
    static let siteB = SiteKey(host: "mx.b.test", port: 25)

    static func spec(_ site: SiteKey, connections: Int = 2) -> Machine.PoolSpec {
        Machine.PoolSpec(site: site, siteName: "\(site)", destinations: [], via: .mx, connections: connections,
                         messagesPerConnection: 100, requireTLS: false)
    }

    static func toA(_ ids: ClosedRange<Int64>, concurrency: Int = 2) -> [(ClaimedDelivery, Machine.Routing)] {
        ids.map { (delivery($0, "a.test"), .deliver(spec(siteA), concurrency: concurrency)) }
    }

    static func toB(_ ids: ClosedRange<Int64>) -> [(ClaimedDelivery, Machine.Routing)] {
        ids.map { (delivery($0, "b.test"), .deliver(spec(siteB), concurrency: 1)) }
    }

    static let refused = SuspensionReason(text: "421 4.7.0 Try again later", code: 421, enhanced: "4.7.0")

    static func ids(_ step: Machine.Step) -> [Int64] {
        if case .send(let batch) = step { return batch.map(\.delivery.id) }
        return []
    }

    @Test func claimsRoutesAndStartsNoMoreWorkersThanTheSiteMayHave() {
        var engine = Self.machine()
        #expect(engine.start() == [.claim(limit: 500, excluding: [])])
        #expect(engine.claimed(Self.toA(1...3)) == [
            .makePool(Self.spec(Self.siteA)), .startWorker(Self.siteA), .startWorker(Self.siteA),
            .claim(limit: 500, excluding: []),
        ])
        #expect(engine.queued == 3)
        // The next claim brings one more of the same site: no third worker, no second pool.
        #expect(engine.claimed(Self.toA(4...4)) == [.claim(limit: 500, excluding: [])])
    }

    @Test func aPassEndsOnceNothingIsClaimedQueuedOrSent() {
        var engine = Self.machine()
        var policy = Self.policy()
        _ = engine.start()
        _ = engine.claimed(Self.toA(1...3, concurrency: 1))
        // Empty while the worker is busy: no claim loop, nothing asked of the store yet.
        #expect(engine.claimed([]) == [])
        let (first, none) = engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy)
        #expect(Self.ids(first) == [1, 2])
        #expect(none == [])
        let (second, _) = engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy)
        #expect(Self.ids(second) == [3])
        // The worker's line is empty: it ends, and the pass claims once more.
        let (done, claimAgain) = engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy)
        #expect(done == .done)
        #expect(claimAgain == [.claim(limit: 500, excluding: [])])
        #expect(engine.claimed([]) == [.checkIdle])
        #expect(engine.idleChecked(hold: nil, nextDue: .seconds(60)) == [.finish])
    }

    @Test func aClaimWaitsForRoomInTheLines() {
        var engine = Self.machine(claimBatch: 2)
        var policy = Self.policy()
        _ = engine.start()
        #expect(engine.claimed(Self.toA(1...2, concurrency: 1)) == [.makePool(Self.spec(Self.siteA)), .startWorker(Self.siteA)])
        let (step, room) = engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy)
        #expect(Self.ids(step) == [1])
        #expect(room == [.claim(limit: 2, excluding: [])])
    }

    @Test func stopWhileDrainingHandsBackTheLinesAndEndsAfterTheLastWorker() {
        var engine = Self.machine()
        var policy = Self.policy()
        _ = engine.start()
        _ = engine.claimed(Self.toA(1...5))
        _ = engine.claimed([])
        let (batch, _) = engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy)
        #expect(Self.ids(batch) == [1, 2])
        // Deliveries 1 and 2 are on the wire; 3 to 5 wait in line and go back to the store.
        #expect(engine.stopRequested() == [.wakeAllSleepers, .handBack((3...5).map { Self.delivery($0, "a.test") })])
        #expect(engine.isHalted)
        // A second stop changes nothing; what a worker puts back goes to the store.
        #expect(engine.stopRequested() == [])
        #expect(engine.putBack([Self.delivery(2, "a.test")], site: Self.siteA) == [.handBack([Self.delivery(2, "a.test")])])
        // The other worker never started its batch; the first ends last.
        #expect(engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy).0 == .done)
        #expect(engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy) == (.done, [.finish]))
    }

    @Test func aPauseMidTransactionStopsThePassAfterTheTransaction() {
        var engine = Self.machine()
        var policy = Self.policy()
        _ = engine.start()
        _ = engine.claimed(Self.toA(1...3, concurrency: 1))
        _ = engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy)
        // A resume or a second pause is not news.
        #expect(engine.controlChanged(.running) == [])
        #expect(engine.controlChanged(.paused) == [.wakeAllSleepers, .handBack([Self.delivery(2, "a.test"), Self.delivery(3, "a.test")])])
        #expect(engine.controlChanged(.cancelled) == [])
        #expect(engine.control == .paused)
        // The claim still out comes back: handed back too, and the pass ends when the
        // worker has recorded its transaction.
        #expect(engine.claimed(Self.toA(4...4, concurrency: 1)) == [.handBack([Self.delivery(4, "a.test")])])
        #expect(engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy) == (.done, [.finish]))
    }

    @Test func aSiteIsSuspendedAfterFailedConnectionsWhileOthersGoOn() {
        var engine = Self.machine(suspendAfter: 3)
        var policy = Self.policy()
        _ = engine.start()
        _ = engine.claimed(Self.toA(1...6, concurrency: 1) + Self.toB(7...8))
        for failed in 1...2 {
            let (step, _) = engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy)
            let group = [Self.delivery(Int64(failed), "a.test")]
            #expect(Self.ids(step) == [Int64(failed)])
            #expect(engine.connectionFailed(site: Self.siteA, reason: Self.refused, failedInARow: failed, group: group)
                == [.settle(group, .deferred(Self.refused))])
        }
        _ = engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy)
        // The third in a row: the site's whole line is deferred in one step.
        let suspension = SuspensionReason(text: "site \(Self.siteA) suspended for this run after 3 failed connections in a row: "
                                              + Self.refused.text, code: 421, enhanced: "4.7.0")
        #expect(engine.connectionFailed(site: Self.siteA, reason: Self.refused, failedInARow: 3, group: [Self.delivery(3, "a.test")]) == [
            .settle([Self.delivery(3, "a.test")], .deferred(Self.refused)),
            .stopSite(Self.siteA, log: suspension.text),
            .settle((4...6).map { Self.delivery($0, "a.test") }, .deferred(suspension)),
        ])
        #expect(engine.excludedDomains == ["a.test"])
        // A's worker ends; B's goes on; a later claim's recipient of A is deferred at once.
        #expect(engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy).0 == .done)
        #expect(Self.ids(engine.workerReady(site: Self.siteB, limit: 2, sharesMessages: false, now: .start, policy: &policy).0) == [7, 8])
        #expect(engine.claimed(Self.toA(9...9)) == [.settle([Self.delivery(9, "a.test")], .deferred(suspension)),
                                                   .claim(limit: 500, excluding: ["a.test"])])
    }

    @Test func aSenderFailureStopsTheRouteOnceAndHandsEverythingBack() {
        var engine = Self.machine()
        var policy = Self.policy()
        _ = engine.start()
        _ = engine.claimed(Self.toA(1...4, concurrency: 1))
        _ = engine.workerReady(site: Self.siteA, limit: 1, sharesMessages: false, now: .start, policy: &policy)
        #expect(engine.senderFailed(site: Self.siteA, handBack: [Self.delivery(1, "a.test")], failure: "535 5.7.8 refused") == [
            .stopSite(Self.siteA, log: "route to \(Self.siteA) stopped: 535 5.7.8 refused"),
            .handBack((1...4).map { Self.delivery($0, "a.test") }),
        ])
        // Said once: another worker's failure on the same route hands back without a word.
        #expect(engine.senderFailed(site: Self.siteA, handBack: [], failure: "535") == [.stopSite(Self.siteA, log: nil)])
        #expect(engine.putBack([Self.delivery(5, "a.test")], site: Self.siteA) == [.handBack([Self.delivery(5, "a.test")])])
        #expect(engine.claimed(Self.toA(6...6)) == [.handBack([Self.delivery(6, "a.test")]), .claim(limit: 500, excluding: ["a.test"])])
    }

    @Test func aLongWaitGoesBackToTheStoreAndAShortOneIsWaitedFor() throws {
        // a.test may take one message a minute; b.test one a second.
        let limits = try SiteLimits(domains: ["a.test": DeliveryLimits(rate: Rate(count: 1, per: 60)),
                                              "b.test": DeliveryLimits(rate: Rate(count: 1, per: 1))], presets: [:])
        var policy = Self.policy(limits)
        var engine = Self.machine()
        _ = engine.start()
        _ = engine.claimed(Self.toA(1...2, concurrency: 1))
        // Delivery 2 would wait a minute, longer than `longestWait`: back to the store, and
        // a.test is left alone for the pass; the worker then has nothing left.
        let (step, actions) = engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .start, policy: &policy)
        #expect(Self.ids(step) == [1])
        #expect(actions == [.handBack([Self.delivery(2, "a.test")])])
        #expect(engine.excludedDomains == ["a.test"])
        #expect(engine.workerReady(site: Self.siteA, limit: 2, sharesMessages: false, now: .seconds(1), policy: &policy).0 == .done)

        _ = engine.claimed(Self.toB(3...4))
        #expect(Self.ids(engine.workerReady(site: Self.siteB, limit: 2, sharesMessages: false, now: .seconds(2), policy: &policy).0) == [3])
        let (wait, _) = engine.workerReady(site: Self.siteB, limit: 2, sharesMessages: false, now: .seconds(2), policy: &policy)
        guard case .wait(let waiting, let until) = wait else {
            Issue.record("expected a wait, got \(wait)")
            return
        }
        #expect(waiting.id == 4)
        #expect(until == .seconds(3))
        // Put back after the wait, it goes at the head of the line.
        #expect(engine.putBack([waiting], site: Self.siteB) == [])
        #expect(Self.ids(engine.workerReady(site: Self.siteB, limit: 2, sharesMessages: false, now: .seconds(3), policy: &policy).0) == [4])
    }

    @Test func waitingForRetriesSetsATimerAndAStopCancelsIt() {
        var engine = Self.machine(waitForRetries: true)
        _ = engine.start()
        #expect(engine.claimed([]) == [.checkIdle])
        // Due in an hour: the timer is capped, so a pause or new work is seen soon.
        #expect(engine.idleChecked(hold: nil, nextDue: .seconds(3600)) == [.startTimer(.seconds(5))])
        #expect(engine.timerFired() == [.claim(limit: 500, excluding: [])])
        #expect(engine.claimed([]) == [.checkIdle])
        #expect(engine.idleChecked(hold: nil, nextDue: .seconds(-2)) == [.startTimer(.milliseconds(50))])
        #expect(engine.stopRequested() == [.wakeAllSleepers, .cancelTimer, .finish])
        // A timer that fired as it was cancelled does nothing.
        #expect(engine.timerFired() == [])
    }

    @Test func aSpentQuotaEndsThePassWithTheHold() {
        var engine = Self.machine(waitForRetries: true)
        _ = engine.start()
        _ = engine.claimed([])
        let hold = SendingHold(reason: "daily quota of 30 reached", until: Date(timeIntervalSince1970: 86_400))
        #expect(engine.idleChecked(hold: hold, nextDue: .seconds(1)) == [.hold(hold), .finish])
    }

    @Test func routesThatBounceOrDeferAreSettledWithoutASite() {
        var engine = Self.machine()
        _ = engine.start()
        let bounced = Self.delivery(1, "nowhere.test")
        let deferred = Self.delivery(2, "flaky.test")
        #expect(engine.claimed([(bounced, .bounce("no such domain")), (deferred, .deferral("DNS timed out"))]) == [
            .settle([bounced], .init(state: .bounced, response: "no such domain", suppress: true)),
            .settle([deferred], .init(state: .deferred, response: "DNS timed out", suppress: false)),
            .claim(limit: 500, excluding: []),
        ])
        #expect(engine.claimed([]) == [.checkIdle])
    }
}
