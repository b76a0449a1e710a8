@testable import Campaigns
@testable import Delivery
import Foundation
import NIOConcurrencyHelpers
import Testing

/// The commit path's retries on a store that refuses commits as a busy database does,
/// waited out on a test clock (the pause only notes how long it would wait).
@Suite struct StoreCommitterTests {
    let delays: [Duration] = [.milliseconds(50), .milliseconds(100), .milliseconds(200)]

    func claimed(_ fixture: DeliveryEngineTests.Fixture) async throws -> ClaimedDelivery {
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        return try #require(try await fixture.store.claimDue(campaign: start.campaignID, now: Date(), limit: 1, owner: "test:commit").first)
    }

    func deferred(_ delivery: ClaimedDelivery) -> DeliveryOutcome {
        DeliveryOutcome(deliveryID: delivery.id, state: .deferred, code: 451, response: "451 4.3.0 try later",
                        attemptedAt: Date(), nextAttemptAt: Date().addingTimeInterval(600))
    }

    @Test func aRefusedCommitIsRetriedAfterEachDelayUntilItTakes() async throws {
        let fixture = try DeliveryEngineTests.Fixture(recipients: ["a@x.test"])
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let delivery = try await claimed(fixture)
        let store = FaultyStore(fixture.store)
        store.busy(commits: 2)
        let waited = NIOLockedValueBox<[Duration]>([])
        let committer = StoreCommitter(store: store, owner: "test:commit", batchSize: 10, retryDelays: delays,
                                       pause: { delay in waited.withLockedValue { $0.append(delay) } }, now: { Date() })
        defer { committer.close() }
        _ = committer.record(deferred(delivery), suppress: false)
        try await committer.flush()

        #expect(waited.withLockedValue { $0 } == [.milliseconds(50), .milliseconds(100)])
        #expect(committer.unrecorded.isEmpty)
        #expect(try fixture.report()["a@x.test"]?.status == "deferred")
    }

    @Test func anOutcomeNotCommittedAfterEveryRetryWaitsForTheNextCommit() async throws {
        let fixture = try DeliveryEngineTests.Fixture(recipients: ["a@x.test"])
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let delivery = try await claimed(fixture)
        let store = FaultyStore(fixture.store)
        store.busy(commits: 4)
        let waited = NIOLockedValueBox<[Duration]>([])
        let committer = StoreCommitter(store: store, owner: "test:commit", batchSize: 10, retryDelays: delays,
                                       pause: { delay in waited.withLockedValue { $0.append(delay) } }, now: { Date() })
        defer { committer.close() }
        _ = committer.record(deferred(delivery), suppress: false)
        await #expect(throws: FaultyStore.Busy.self) { try await committer.flush() }
        // Every delay waited out once, and the outcome kept, not dropped.
        #expect(waited.withLockedValue { $0 } == delays)
        #expect(committer.unrecorded.map(\.deliveryID) == [delivery.id])
        #expect(try fixture.report()["a@x.test"]?.status == "claimed")

        // The store recovers: the next commit records it.
        try await committer.flush()
        #expect(committer.unrecorded.isEmpty)
        #expect(try fixture.report()["a@x.test"]?.status == "deferred")
    }
}
