@testable import Campaigns
import Delivery
import Foundation
import Testing
import TestPeers

/// Another process holding the database's write lock (`Tests/peers/sqlite_lock.py`): the
/// store waits and writes once it is let go, and a lock held past the store's wait is a
/// clear error naming the database, with nothing half-written.
@Suite struct LockWaitTests {
    /// A campaign of `count` recipients on a store that waits `lockWait` for a lock, all
    /// claimed and marked `sending` by "t".
    private func sending(_ count: Int, lockWait: TimeInterval) async throws -> (DeliveryFixture, SalvoStore, [Int64]) {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: count))
        let store = try SalvoStore(path: fixture.store.path, lockWait: lockWait)
        let campaign = try store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let ids = try await store.claimDue(campaign: campaign, now: at(1), limit: 10, owner: "t").map(\.id)
        #expect(try await store.markSending(ids, owner: "t", now: at(1)) == Set(ids))
        return (fixture, store, ids)
    }

    @Test func anOutcomeIsWrittenOnceTheLockIsLetGo() async throws {
        let (fixture, store, ids) = try await sending(3, lockWait: 60)
        defer { fixture.remove() }

        let holder = try await SQLiteLockHolder.hold(store.path, for: 3)
        defer { holder.stop() }
        // The commit thread's path (synchronous) and the batch path both wait it out.
        let first = try store.recordAndMarkSendingSynchronously([fixture.outcome(ids[0], .sent, at: 2)], hardBounces: [], marking: [],
                                                   owner: "t", now: at(2))
        #expect(first.isEmpty)
        #expect(holder.said("releasing"), "written while the other process held the lock: \(holder.printed)")
        let recorded = try await store.record(ids.dropFirst().map { fixture.outcome($0, .sent, at: 2) }, owner: "t")
        #expect(recorded == 2)
        store.settleSendLog()
        #expect(try fixture.states().values.sorted() == ["sent", "sent", "sent"])
    }

    @Test func aLockHeldPastTheWaitIsAnErrorNamingTheDatabase() async throws {
        let (fixture, store, ids) = try await sending(2, lockWait: 1.5)
        defer { fixture.remove() }

        let holder = try await SQLiteLockHolder.hold(store.path, for: 120)
        defer { holder.stop() }
        do {
            try await store.record(ids.map { fixture.outcome($0, .sent, at: 2) }, owner: "t")
            Issue.record("recorded while another process held the lock")
        } catch let error as StoreError {
            #expect("\(error)".contains("database \(store.path) is locked by another process"), "\(error)")
        }
        #expect(throws: StoreError.self) {
            try store.recordAndMarkSendingSynchronously([fixture.outcome(ids[0], .sent, at: 2)], hardBounces: [], marking: [],
                                           owner: "t", now: at(2))
        }
        #expect(holder.process.isRunning && !holder.said("releasing"), "the lock was let go: \(holder.printed)")
        holder.stop()
        // Nothing was half-written: both still `sending`, recordable now.
        #expect(try fixture.states().values.sorted() == ["sending", "sending"])
        #expect(try await store.record(ids.map { fixture.outcome($0, .sent, at: 3) }, owner: "t") == 2)
    }
}
