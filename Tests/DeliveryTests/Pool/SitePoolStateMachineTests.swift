@testable import Delivery
import SMTP
import Testing
import TestPeers

/// The pool's rules as transcripts: events in, actions out, a fake clock, no sockets.
@Suite struct SitePoolStateMachineTests {
    typealias Machine = SitePool.StateMachine<FakeInstant>

    static func machine(_ limit: Int, lanes: Int = 1, idle: Duration = .seconds(5), leases: Bool = false) -> Machine {
        Machine(settings: .init(maxConnections: limit, lanes: lanes, idleTimeout: idle, usesLeases: leases,
                                leaseRetryInterval: .milliseconds(500), longestLeaseWait: .seconds(10)))
    }

    static let refused = SMTPError(.connectFailed, detail: "connection refused", server: "127.0.0.1:25")

    @Test func opensOnlyForWaitersAndNeverAboveTheLimit() {
        var pool = Self.machine(2)
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        #expect(pool.acquire(1, now: .start) == [.openConnection(1)])
        // Two opening: the third waits.
        #expect(pool.acquire(2, now: .start) == [])
        #expect(pool.count == 2)
        #expect(pool.connectionOpened(0, now: .seconds(1)) == [.handOver(0, to: 0)])
        #expect(pool.connectionOpened(1, now: .seconds(1)) == [.handOver(1, to: 1)])
        #expect(pool.connectionReleased(1, .reusable, now: .seconds(2)) == [.handOver(1, to: 2)])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(3)) == [.scheduleIdleTimer(0, at: .seconds(8))])
        // An idle connection serves the next waiter without a new open.
        #expect(pool.acquire(3, now: .seconds(4)) == [.cancelIdleTimer(0), .handOver(0, to: 3)])
        #expect(pool.peak == 2)
    }

    @Test func waitersAreServedInTheOrderTheyCame() {
        var pool = Self.machine(1)
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        for waiter in 1...4 { #expect(pool.acquire(waiter, now: .start) == []) }
        #expect(pool.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        // Waiter 2 gives up; the others keep their places.
        #expect(pool.cancel(2) == [.failWaiter(2, .cancelled)])
        #expect(pool.cancel(2) == [])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(1)) == [.handOver(0, to: 1)])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(2)) == [.handOver(0, to: 3)])
        // A spent connection is closed and the slot frees only once it is gone.
        #expect(pool.connectionReleased(0, .spent, now: .seconds(3)) == [.closeConnection(0, quit: true)])
        #expect(pool.count == 1)
        #expect(pool.connectionClosed(0, now: .seconds(4)) == [.openConnection(1)])
        #expect(pool.connectionOpened(1, now: .seconds(5)) == [.handOver(1, to: 4)])
        #expect(pool.peak == 1)
    }

    @Test func aLoweredLimitClosesSpareConnectionsAsTheyComeBack() {
        var pool = Self.machine(3)
        for waiter in 0..<3 { #expect(pool.acquire(waiter, now: .start) == [.openConnection(waiter)]) }
        for id in 0..<3 { #expect(pool.connectionOpened(id, now: .start) == [.handOver(id, to: id)]) }
        #expect(pool.acquire(3, now: .start) == [])
        // Back-off lowers the limit mid-flight: nothing is idle, so nothing closes yet.
        #expect(pool.setMaxConnections(1, now: .seconds(1)) == [])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(2)) == [.closeConnection(0, quit: true)])
        #expect(pool.connectionClosed(0, now: .seconds(2)) == [])
        #expect(pool.connectionReleased(1, .reusable, now: .seconds(3)) == [.closeConnection(1, quit: true)])
        #expect(pool.connectionClosed(1, now: .seconds(3)) == [])
        // At the limit now: the last one is kept and goes to the waiter.
        #expect(pool.connectionReleased(2, .reusable, now: .seconds(4)) == [.handOver(2, to: 3)])
        #expect(pool.count == 1)

        // Raised again: a waiter gets a new connection at once.
        #expect(pool.acquire(4, now: .seconds(5)) == [])
        #expect(pool.setMaxConnections(2, now: .seconds(5)) == [.openConnection(3)])
        #expect(pool.connectionOpened(3, now: .seconds(6)) == [.handOver(3, to: 4)])
        #expect(pool.connectionReleased(3, .reusable, now: .seconds(7)) == [.scheduleIdleTimer(3, at: .seconds(12))])
        // An idle spare closes at once when the limit falls.
        #expect(pool.setMaxConnections(1, now: .seconds(8)) == [.cancelIdleTimer(3), .closeConnection(3, quit: true)])
    }

    @Test func aConnectionOpenedAfterTheLimitFellIsClosed() {
        var pool = Self.machine(2)
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        #expect(pool.acquire(1, now: .start) == [.openConnection(1)])
        #expect(pool.setMaxConnections(1, now: .start) == [])
        #expect(pool.connectionOpened(0, now: .seconds(1)) == [.closeConnection(0, quit: true)])
        #expect(pool.connectionOpened(1, now: .seconds(1)) == [.handOver(1, to: 0)])
        #expect(pool.connectionClosed(0, now: .seconds(2)) == [])
        #expect(pool.connectionReleased(1, .reusable, now: .seconds(3)) == [.handOver(1, to: 1)])
    }

    @Test func shutdownFailsTheWaitersAndClosesEveryConnection() {
        var pool = Self.machine(3)
        for waiter in 0..<3 { #expect(pool.acquire(waiter, now: .start) == [.openConnection(waiter)]) }
        #expect(pool.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        #expect(pool.connectionOpened(1, now: .start) == [.handOver(1, to: 1)])
        #expect(pool.connectionReleased(1, .reusable, now: .seconds(1)) == [.handOver(1, to: 2)])
        // Connection 2 is still opening; waiter 3 is covered by it, waiter 4 by nothing.
        #expect(pool.acquire(3, now: .seconds(1)) == [])
        #expect(pool.acquire(4, now: .seconds(1)) == [])

        // Waiters hear at once; busy and opening connections close as they come back.
        #expect(pool.shutdown() == [.failWaiter(3, .shutDown), .failWaiter(4, .shutDown)])
        #expect(pool.shutdown() == [])
        #expect(pool.acquire(5, now: .seconds(2)) == [.failWaiter(5, .shutDown)])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(2)) == [.closeConnection(0, quit: true)])
        #expect(pool.connectionOpened(2, now: .seconds(2)) == [.closeConnection(2, quit: true)])
        #expect(pool.connectionReleased(1, .broken, now: .seconds(2)) == [.closeConnection(1, quit: false)])
        #expect(pool.connectionClosed(0, now: .seconds(3)) == [])
        #expect(pool.connectionClosed(2, now: .seconds(3)) == [])
        #expect(!pool.isShutDown)
        #expect(pool.connectionClosed(1, now: .seconds(3)) == [.shutdownComplete])
        #expect(pool.isShutDown)
    }

    @Test func shutdownOfAnIdlePoolClosesItsConnections() {
        var pool = Self.machine(2)
        #expect(pool.shutdown() == [.shutdownComplete])

        var used = Self.machine(2)
        #expect(used.acquire(0, now: .start) == [.openConnection(0)])
        #expect(used.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        #expect(used.connectionReleased(0, .reusable, now: .start) == [.scheduleIdleTimer(0, at: .seconds(5))])
        #expect(used.shutdown() == [.cancelIdleTimer(0), .closeConnection(0, quit: true)])
        #expect(used.idleTimerFired(0, now: .seconds(5)) == [])
        #expect(used.connectionClosed(0, now: .seconds(1)) == [.shutdownComplete])
    }

    @Test func aFailedOpenFailsTheOldestWaiterAndNeverSpins() {
        var pool = Self.machine(1)
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        #expect(pool.acquire(1, now: .start) == [])
        // Every destination refused: the waiter it was for hears why; the next waiter gets
        // an attempt of its own (the engine decides when the site has failed enough).
        #expect(pool.connectionFailed(0, error: Self.refused, now: .seconds(1))
            == [.failWaiter(0, .connect(Self.refused)), .openConnection(1)])
        #expect(pool.connectionOpened(1, now: .seconds(2)) == [.handOver(1, to: 1)])

        // Nobody left waiting: a failure ends there, with no new attempt.
        var lone = Self.machine(3)
        #expect(lone.acquire(0, now: .start) == [.openConnection(0)])
        #expect(lone.connectionFailed(0, error: Self.refused, now: .seconds(1)) == [.failWaiter(0, .connect(Self.refused))])
        #expect(lone.count == 0)
        #expect(lone.waiting == 0)
        // An unknown or repeated report changes nothing.
        #expect(lone.connectionFailed(0, error: Self.refused, now: .seconds(1)) == [])
        #expect(lone.connectionOpened(7, now: .seconds(1)) == [])
    }

    @Test func aFailedOpenWhoseWaiterWasServedFailsNobody() {
        var pool = Self.machine(2)
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        #expect(pool.acquire(1, now: .start) == [.openConnection(1)])
        #expect(pool.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        #expect(pool.connectionReleased(0, .reusable, now: .start) == [.handOver(0, to: 1)])
        #expect(pool.connectionFailed(1, error: Self.refused, now: .seconds(1)) == [])
    }

    @Test func aStaleIdleConnectionIsClosedAndTheWaiterKeepsItsPlace() {
        var pool = Self.machine(1)
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        #expect(pool.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        #expect(pool.connectionReleased(0, .reusable, now: .start) == [.scheduleIdleTimer(0, at: .seconds(5))])
        #expect(pool.acquire(1, now: .seconds(1)) == [.cancelIdleTimer(0), .handOver(0, to: 1)])
        #expect(pool.acquire(2, now: .seconds(1)) == [])
        // The server had dropped it while idle.
        #expect(pool.connectionWasStale(0, waiter: 1, now: .seconds(1)) == [.closeConnection(0, quit: false)])
        #expect(pool.connectionClosed(0, now: .seconds(1)) == [.openConnection(1)])
        #expect(pool.connectionOpened(1, now: .seconds(2)) == [.handOver(1, to: 1)])
    }

    @Test func idleConnectionsCloseWhenTheirTimerFires() {
        var pool = Self.machine(2, idle: .seconds(5))
        #expect(pool.acquire(0, now: .start) == [.openConnection(0)])
        #expect(pool.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(1)) == [.scheduleIdleTimer(0, at: .seconds(6))])
        #expect(pool.acquire(1, now: .seconds(2)) == [.cancelIdleTimer(0), .handOver(0, to: 1)])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(3)) == [.scheduleIdleTimer(0, at: .seconds(8))])
        // The first timer, had it not been cancelled, is stale now.
        #expect(pool.idleTimerFired(0, now: .seconds(6)) == [])
        #expect(pool.idleTimerFired(0, now: .seconds(8)) == [.closeConnection(0, quit: true)])
        #expect(pool.connectionClosed(0, now: .seconds(9)) == [])
        #expect(pool.count == 0)
    }

    @Test func leasesRefusedThenGranted() {
        var pool = Self.machine(2, leases: true)
        #expect(pool.acquire(0, now: .start) == [.leaseConnection(0)])
        #expect(pool.leaseRefused(0, now: .start) == [.scheduleLeaseRetry(0, at: .milliseconds(500))])
        #expect(pool.acquire(1, now: .milliseconds(100)) == [.leaseConnection(1)])
        #expect(pool.leaseRefused(1, now: .milliseconds(100)) == [.scheduleLeaseRetry(1, at: .milliseconds(600))])
        #expect(pool.leaseRetryFired(0, now: .milliseconds(500)) == [.leaseConnection(0)])
        #expect(pool.leaseRefused(0, now: .milliseconds(500)) == [.scheduleLeaseRetry(0, at: .milliseconds(1000))])
        // The later slot's lease comes first: the oldest waiter still gets the connection.
        #expect(pool.leaseRetryFired(1, now: .milliseconds(600)) == [.leaseConnection(1)])
        #expect(pool.leaseGranted(1, now: .milliseconds(600)) == [.openConnection(1)])
        #expect(pool.connectionOpened(1, now: .milliseconds(700)) == [.handOver(1, to: 0)])
        #expect(pool.leaseRetryFired(0, now: .milliseconds(1000)) == [.leaseConnection(0)])
        #expect(pool.leaseGranted(0, now: .milliseconds(1000)) == [.openConnection(0)])
        #expect(pool.connectionOpened(0, now: .milliseconds(1100)) == [.handOver(0, to: 1)])
        // A closed connection gives its lease back.
        #expect(pool.connectionReleased(1, .spent, now: .seconds(2)) == [.closeConnection(1, quit: true)])
        #expect(pool.connectionClosed(1, now: .seconds(2)) == [.returnLease(1)])
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(2)) == [.scheduleIdleTimer(0, at: .seconds(7))])
        #expect(pool.shutdown() == [.cancelIdleTimer(0), .closeConnection(0, quit: true)])
        #expect(pool.connectionClosed(0, now: .seconds(3)) == [.returnLease(0), .shutdownComplete])
    }

    @Test func aLeaseNoLongerNeededIsGivenBack() {
        var pool = Self.machine(2, leases: true)
        #expect(pool.acquire(0, now: .start) == [.leaseConnection(0)])
        #expect(pool.leaseGranted(0, now: .start) == [.openConnection(0)])
        #expect(pool.connectionOpened(0, now: .start) == [.handOver(0, to: 0)])
        #expect(pool.acquire(1, now: .start) == [.leaseConnection(1)])
        // Waiter 1 is served by the connection coming back before its lease arrives.
        #expect(pool.connectionReleased(0, .reusable, now: .seconds(1)) == [.handOver(0, to: 1)])
        #expect(pool.leaseGranted(1, now: .seconds(1)) == [.returnLease(1)])
        #expect(pool.count == 1)
        // A failed open gives its lease back too.
        #expect(pool.acquire(2, now: .seconds(2)) == [.leaseConnection(2)])
        #expect(pool.leaseGranted(2, now: .seconds(2)) == [.openConnection(2)])
        #expect(pool.connectionFailed(2, error: Self.refused, now: .seconds(3))
            == [.returnLease(2), .failWaiter(2, .connect(Self.refused))])
    }

    @Test func aWaiterThatWaitedItsLongestForALeaseIsToldSo() {
        var pool = Self.machine(1, leases: true)
        #expect(pool.acquire(0, now: .start) == [.leaseConnection(0)])
        #expect(pool.acquire(1, now: .seconds(4)) == [])
        var now = FakeInstant.start
        // Refused again and again: each retry after the interval, bounded by the longest wait.
        for _ in 0..<19 {
            #expect(pool.leaseRefused(0, now: now) == [.scheduleLeaseRetry(0, at: now.advanced(by: .milliseconds(500)))])
            now = now.advanced(by: .milliseconds(500))
            #expect(pool.leaseRetryFired(0, now: now) == [.leaseConnection(0)])
        }
        #expect(now == .seconds(9.5))
        #expect(pool.leaseRefused(0, now: now) == [.scheduleLeaseRetry(0, at: .seconds(10))])
        #expect(pool.leaseRetryFired(0, now: .seconds(10)) == [.leaseConnection(0)])
        // Waiter 0 has waited 10 s; waiter 1 only 6 s and keeps waiting.
        #expect(pool.leaseRefused(0, now: .seconds(10))
            == [.failWaiter(0, .noLease(waited: .seconds(10))), .scheduleLeaseRetry(0, at: .seconds(10.5))])
        #expect(pool.leaseRetryFired(0, now: .seconds(10.5)) == [.leaseConnection(0)])
        #expect(pool.leaseGranted(0, now: .seconds(10.5)) == [.openConnection(0)])
        #expect(pool.connectionOpened(0, now: .seconds(11)) == [.handOver(0, to: 1)])
    }

    @Test func aLoweredLimitDropsSlotsWaitingForALease() {
        var pool = Self.machine(2, leases: true)
        #expect(pool.acquire(0, now: .start) == [.leaseConnection(0)])
        #expect(pool.acquire(1, now: .start) == [.leaseConnection(1)])
        #expect(pool.leaseRefused(0, now: .start) == [.scheduleLeaseRetry(0, at: .milliseconds(500))])
        #expect(pool.leaseRefused(1, now: .start) == [.scheduleLeaseRetry(1, at: .milliseconds(500))])
        #expect(pool.setMaxConnections(1, now: .start) == [.cancelLeaseRetry(1)])
        #expect(pool.count == 1)
        #expect(pool.shutdown() == [.failWaiter(0, .shutDown), .failWaiter(1, .shutDown), .cancelLeaseRetry(0), .shutdownComplete])
    }

    /// Thousands of random events, each answered as the runner would: the limit is never
    /// exceeded by a new connection, connections and failures go to the oldest waiter,
    /// every waiter gets exactly one answer, and shutdown returns every lease.
    /// Two source addresses with two connections each: new connections alternate between
    /// the lanes, each lane keeps its own limit, and a lease is asked and returned in the
    /// lane of its connection.
    @Test func eachLaneHoldsItsOwnLimitAndTheyShareTheWork() {
        var pool = Self.machine(2, lanes: 2, leases: true)
        #expect(pool.acquire(0, now: .start) == [.leaseConnection(0, lane: 0)])
        #expect(pool.acquire(1, now: .start) == [.leaseConnection(1, lane: 1)])
        #expect(pool.acquire(2, now: .start) == [.leaseConnection(2, lane: 0)])
        #expect(pool.acquire(3, now: .start) == [.leaseConnection(3, lane: 1)])
        // Both lanes full: the fifth waits.
        #expect(pool.acquire(4, now: .start) == [])
        #expect(pool.count == 4 && pool.count(in: 0) == 2 && pool.count(in: 1) == 2)
        #expect(pool.leaseGranted(1, now: .seconds(1)) == [.openConnection(1, lane: 1)])
        #expect(pool.leaseGranted(0, now: .seconds(1)) == [.openConnection(0, lane: 0)])
        #expect(pool.connectionOpened(1, now: .seconds(2)) == [.handOver(1, to: 0)])
        // A failed open returns its lane's lease; its waiter hears why, and the lane with
        // room (lane 1's slot is gone) gets the next try.
        #expect(pool.connectionFailed(0, error: Self.refused, now: .seconds(2))
                == [.returnLease(0, lane: 0), .failWaiter(1, .connect(Self.refused)), .leaseConnection(4, lane: 0)])
        #expect(pool.lane(of: 4) == 0)
        // A closed connection gives back its own lane's lease and frees a slot there.
        #expect(pool.connectionReleased(1, .spent, now: .seconds(3)) == [.closeConnection(1, quit: true)])
        #expect(pool.connectionClosed(1, now: .seconds(3)) == [.returnLease(1, lane: 1)])
        #expect(pool.lanePeaks == [2, 2] && pool.peak == 4)
    }

    /// Connections opened one after another take turns at the lanes, so every source
    /// address carries mail even when one connection at a time is enough.
    @Test func connectionsOneAfterAnotherTakeTurnsAtTheLanes() {
        var pool = Self.machine(1, lanes: 3)
        var lanes: [Int] = []
        for id in 0..<6 {
            let actions = pool.acquire(id, now: .seconds(Double(id)))
            guard case .openConnection(let opened, let lane)? = actions.first, opened == id else {
                Issue.record("\(actions)")
                return
            }
            lanes.append(lane)
            #expect(pool.connectionOpened(id, now: .seconds(Double(id))) == [.handOver(id, to: id)])
            #expect(pool.connectionReleased(id, .spent, now: .seconds(Double(id))) == [.closeConnection(id, quit: true)])
            #expect(pool.connectionClosed(id, now: .seconds(Double(id))) == [])
        }
        #expect(lanes == [0, 1, 2, 0, 1, 2])
    }

    /// Back-off lowers the limit of every lane: each lane closes its own spare idle
    /// connection, and neither gives its room to the other.
    @Test func aLoweredLimitHoldsInEveryLane() {
        var pool = Self.machine(2, lanes: 2)
        for waiter in 0..<4 { #expect(pool.acquire(waiter, now: .start) == [.openConnection(waiter, lane: waiter % 2)]) }
        for id in 0..<4 { #expect(pool.connectionOpened(id, now: .start) == [.handOver(id, to: id)]) }
        for id in 0..<4 { #expect(pool.connectionReleased(id, .reusable, now: .seconds(1)) == [.scheduleIdleTimer(id, at: .seconds(6))]) }
        #expect(pool.setMaxConnections(1, now: .seconds(2))
                == [.cancelIdleTimer(0), .closeConnection(0, quit: true), .cancelIdleTimer(1), .closeConnection(1, quit: true)])
        #expect(pool.count(in: 0) == 2 && pool.count(in: 1) == 2, "closing still counts")
        #expect(pool.connectionClosed(0, now: .seconds(3)) == [])
        #expect(pool.connectionClosed(1, now: .seconds(3)) == [])
        // One idle connection left in each lane; two waiters take them, a third waits.
        #expect(pool.acquire(4, now: .seconds(4)) == [.cancelIdleTimer(3), .handOver(3, to: 4)])
        #expect(pool.acquire(5, now: .seconds(4)) == [.cancelIdleTimer(2), .handOver(2, to: 5)])
        #expect(pool.acquire(6, now: .seconds(4)) == [])
        #expect(pool.count == 2)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64]) func aRandomWalkKeepsEveryRule(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let lanes = seed >= 3 ? 2 : 1
        var walk = Walk(machine: Self.machine(3, lanes: lanes, leases: seed != 1))
        for _ in 0..<3000 {
            walk.step(using: &generator)
        }
        walk.drain()
        #expect(walk.violations == [])
        #expect(walk.shutDown)
        #expect(walk.waiting.isEmpty)
        #expect(walk.answered == walk.nextWaiter, "every waiter answered once")
        #expect(walk.leasesHeld == 0)
        #expect(walk.machine.count == 0)
        #expect(walk.machine.lanePeaks.count == lanes && walk.machine.lanePeaks.allSatisfy { $0 <= 4 })
        #expect(walk.machine.peak <= 4 * lanes)
    }
}

/// The runner's side of the random walk: what is outstanding, answered in random order.
private struct Walk {
    typealias Machine = SitePool.StateMachine<FakeInstant>
    var machine: Machine
    var now = FakeInstant.start
    var nextWaiter = 0
    var waiting: [Int] = []
    var answered = 0
    var leasing: [Int] = []
    var opening: [Int] = []
    var held: [Int] = []
    var closing: [Int] = []
    var idleTimers: [Int: FakeInstant] = [:]
    var leaseTimers: [Int: FakeInstant] = [:]
    var leasesHeld = 0
    var shutDown = false
    var violations: [String] = []

    init(machine: Machine) { self.machine = machine }

    mutating func step(using generator: inout SeededGenerator) {
        now = now.advanced(by: .milliseconds(Int.random(in: 0...300, using: &generator)))
        let now = self.now
        switch Int.random(in: 0..<10, using: &generator) {
        case 0, 1:
            let waiter = nextWaiter
            nextWaiter += 1
            waiting.append(waiter)
            event { $0.acquire(waiter, now: now) }
        case 2:
            guard let id = take(&leasing, &generator) else { return }
            if Bool.random(using: &generator) {
                leasesHeld += 1
                event { $0.leaseGranted(id, now: now) }
            } else {
                event { $0.leaseRefused(id, now: now) }
            }
        case 3:
            guard let id = take(&opening, &generator) else { return }
            if Int.random(in: 0..<4, using: &generator) == 0 {
                event { $0.connectionFailed(id, error: SitePoolStateMachineTests.refused, now: now) }
            } else {
                event { $0.connectionOpened(id, now: now) }
            }
        case 4, 5:
            guard let id = take(&held, &generator) else { return }
            let returned = [Machine.Return.reusable, .reusable, .spent, .broken].randomElement(using: &generator)!
            event { $0.connectionReleased(id, returned, now: now) }
        case 6:
            guard let id = take(&closing, &generator) else { return }
            event { $0.connectionClosed(id, now: now) }
        case 7:
            if let id = idleTimers.keys.sorted().randomElement(using: &generator), let at = idleTimers.removeValue(forKey: id) {
                let fired = max(now, at)
                self.now = fired
                event { $0.idleTimerFired(id, now: fired) }
            } else if let id = leaseTimers.keys.sorted().randomElement(using: &generator),
                      let at = leaseTimers.removeValue(forKey: id) {
                let fired = max(now, at)
                self.now = fired
                event { $0.leaseRetryFired(id, now: fired) }
            }
        case 8:
            let limit = Int.random(in: 1...4, using: &generator)
            event { $0.setMaxConnections(limit, now: now) }
        default:
            guard let waiter = waiting.randomElement(using: &generator) else { return }
            event { $0.cancel(waiter) }
        }
    }

    /// Shuts down and answers everything outstanding until nothing is.
    mutating func drain() {
        let now = self.now
        event { $0.shutdown() }
        for _ in 0..<10_000 {
            if let id = leasing.popLast() {
                leasesHeld += 1
                event { $0.leaseGranted(id, now: now) }
            } else if let id = opening.popLast() {
                event { $0.connectionOpened(id, now: now) }
            } else if let id = held.popLast() {
                event { $0.connectionReleased(id, .reusable, now: now) }
            } else if let id = closing.popLast() {
                event { $0.connectionClosed(id, now: now) }
            } else if let id = leaseTimers.keys.min(), let at = leaseTimers.removeValue(forKey: id) {
                event { $0.leaseRetryFired(id, now: at) }
            } else {
                return
            }
        }
        violations.append("drain did not end")
    }

    private func take(_ list: inout [Int], _ generator: inout SeededGenerator) -> Int? {
        guard !list.isEmpty else { return nil }
        return list.remove(at: Int.random(in: list.indices, using: &generator))
    }

    private mutating func event(_ body: (inout Machine) -> [Machine.Action]) {
        let lanes = 0..<machine.settings.lanes
        let before = lanes.map { machine.count(in: $0) }
        let actions = body(&machine)
        for lane in lanes where machine.count(in: lane) > before[lane] && machine.count(in: lane) > machine.maxConnections {
            violations.append("\(machine.count(in: lane)) connections in lane \(lane) over a limit of \(machine.maxConnections)")
        }
        for action in actions { perform(action) }
    }

    private mutating func perform(_ action: Machine.Action) {
        switch action {
        case .leaseConnection(let id, _): leasing.append(id)
        case .returnLease:
            leasesHeld -= 1
            if leasesHeld < 0 { violations.append("a lease returned twice") }
        case .scheduleLeaseRetry(let id, let at): leaseTimers[id] = at
        case .cancelLeaseRetry(let id): leaseTimers[id] = nil
        case .openConnection(let id, _): opening.append(id)
        case .handOver(let id, let waiter):
            if waiter != waiting.first { violations.append("connection \(id) to waiter \(waiter) before \(waiting)") }
            waiting.removeAll { $0 == waiter }
            answered += 1
            held.append(id)
        case .failWaiter(let waiter, let failure):
            switch failure {
            case .connect, .noLease:
                if waiter != waiting.first { violations.append("failure to waiter \(waiter) before \(waiting)") }
            case .shutDown, .cancelled:
                break
            }
            if waiting.contains(waiter) {
                answered += 1
            } else {
                violations.append("waiter \(waiter) answered twice")
            }
            waiting.removeAll { $0 == waiter }
        case .closeConnection(let id, _): closing.append(id)
        case .scheduleIdleTimer(let id, let at): idleTimers[id] = at
        case .cancelIdleTimer(let id): idleTimers[id] = nil
        case .shutdownComplete:
            if shutDown { violations.append("shutdown completed twice") }
            shutDown = true
        }
    }
}
