@testable import Campaigns
import Delivery
import Foundation
import GRDB
import Testing

/// The send log (`recordAndMarkSending`) must leave the store as the direct writes did:
/// after a crash, after a cancel, and once applied.
@Suite struct SendLogTests {
    /// A started campaign of `recipients`, `claiming` of them claimed by `owner`.
    private func startClaimed(_ recipients: Int, claiming: Int, owner: String) async throws
        -> (fixture: DeliveryFixture, campaign: Int64, claimed: [ClaimedDelivery]) {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: recipients))
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        return (fixture, campaign, try await fixture.store.claimDue(campaign: campaign, now: at(0), limit: claiming, owner: owner))
    }

    private func logRows(_ store: SalvoStore) throws -> Int {
        try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM send_log") ?? 0 }
    }

    @Test func aCrashWithTheLogUnappliedLeavesOnlyTheMessageOnTheWireUnknown() async throws {
        let (fixture, campaign, dead) = try await startClaimed(6, claiming: 4, owner: "dead")
        defer { fixture.remove() }
        let store = fixture.store
        // One connection: mark the first; record it and mark the second; then a bounce
        // of the third (never marked), and the process dies with the second on the wire.
        #expect(try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: [dead[0].id], owner: "dead", now: at(0)) == [dead[0].id])
        #expect(try store.recordAndMarkSendingSynchronously([fixture.outcome(dead[0].id, .sent, at: 0)], hardBounces: [],
                                               marking: [dead[1].id], owner: "dead", now: at(0)) == [dead[1].id])
        _ = try store.recordAndMarkSendingSynchronously([fixture.outcome(dead[2].id, .bounced, at: 0)], hardBounces: [dead[2].id],
                                       marking: [], owner: "dead", now: at(0))
        #expect(try logRows(store) == 4)
        // Nothing is applied yet: the deliveries table still shows the claims.
        #expect(try await store.stateCounts(campaign: campaign)[.claimed] == 4)

        let recovery = try await store.recoverAbandoned(campaign: campaign, owner: "next", now: at(100))
        #expect(recovery == DeliveryRecovery(released: 1, unknown: 1))
        #expect(try logRows(store) == 0)
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 1 && counts[.unknown] == 1 && counts[.bounced] == 1 && counts[.pending] == 3)
        let attempts = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT delivery_id, outcome FROM attempts").map { ($0[0] as Int64, $0[1] as String) }
        }
        #expect(Dictionary(uniqueKeysWithValues: attempts) == [dead[0].id: "sent", dead[1].id: "unknown", dead[2].id: "bounced"])
        let suppressed = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT email FROM suppressions") }
        #expect(suppressed == [dead[2].email])
    }

    @Test func statusAndReportFoldTheLogFirst() async throws {
        let (fixture, _, claimed) = try await startClaimed(2, claiming: 2, owner: "e")
        defer { fixture.remove() }
        let store = fixture.store
        _ = try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: [claimed[0].id], owner: "e", now: at(0))
        _ = try store.recordAndMarkSendingSynchronously([fixture.outcome(claimed[0].id, .sent, at: 0)], hardBounces: [],
                                           marking: [claimed[1].id], owner: "e", now: at(0))
        #expect(try logRows(store) == 3)
        let counts = try store.deliveryCounts(campaign: fixture.campaign)
        #expect(counts[.sent] == 1 && counts[.sending] == 1, "\(counts)")
        #expect(try logRows(store) == 0)
        let report = try store.deliveryReport(campaign: fixture.campaign)
        #expect(report.first { $0.email == claimed[0].email }?.status == "sent")
    }

    @Test func cancelKeepsALoggedMarkSendingAndItsOutcomeIsRecorded() async throws {
        let (fixture, campaign, claimed) = try await startClaimed(3, claiming: 3, owner: "e")
        defer { fixture.remove() }
        let store = fixture.store
        _ = try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: [claimed[0].id], owner: "e", now: at(0))
        #expect(try store.cancelCampaign(named: fixture.campaign, now: at(1)) == 2)
        // The cancelled ones can no longer be marked; the one on the wire is recorded.
        #expect(try store.recordAndMarkSendingSynchronously([fixture.outcome(claimed[0].id, .sent, at: 2)], hardBounces: [],
                                               marking: [claimed[1].id], owner: "e", now: at(2)).isEmpty)
        try await store.signOff(owner: "e")
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 1 && counts[.cancelled] == 2)
        #expect(try logRows(store) == 0)
    }

    @Test func theLogIsAppliedOnceItIsASecondOldOrLong() async throws {
        let (fixture, campaign, claimed) = try await startClaimed(1_100, claiming: 1_100, owner: "e")
        defer { fixture.remove() }
        let store = fixture.store
        let now = Date()
        _ = try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: claimed.prefix(10).map(\.id), owner: "e", now: now)
        #expect(try logRows(store) == 10)
        // A second later, the next commit applies what is there.
        _ = try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: [claimed[10].id], owner: "e", now: now + 1)
        #expect(try logRows(store) == 0)
        #expect(try await store.stateCounts(campaign: campaign)[.sending] == 11)
        // Within the same second, SalvoStore.sendLogApplyRows rows do too.
        let outcomes = claimed.prefix(11).map { fixture.outcome($0.id, .sent, at: (now + 1).timeIntervalSince1970) }
        let rest = claimed.dropFirst(11).map(\.id)
        _ = try store.recordAndMarkSendingSynchronously(outcomes, hardBounces: [], marking: Array(rest.prefix(SalvoStore.sendLogApplyRows - 12)),
                                           owner: "e", now: now + 1)
        #expect(try logRows(store) == SalvoStore.sendLogApplyRows - 1)
        _ = try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: [rest[SalvoStore.sendLogApplyRows - 12]], owner: "e", now: now + 1)
        #expect(try logRows(store) == 0)
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 11 && counts[.sending] == SalvoStore.sendLogApplyRows - 11)
    }

    /// Each store tallies what it logged. Another process that applies the log meanwhile
    /// makes this one apply at its next commit (what is there then, lost nothing), after
    /// which its tally starts again: it does not go on applying at every commit.
    @Test func aLogAppliedByAnotherProcessMeanwhileLosesNothingAndIsNotAppliedAtEveryCommitAfter() async throws {
        let (fixture, campaign, claimed) = try await startClaimed(4, claiming: 4, owner: "a")
        defer { fixture.remove() }
        let store = fixture.store
        let other = try SalvoStore(path: store.path, create: false)
        let now = Date()
        _ = try store.recordAndMarkSendingSynchronously([], hardBounces: [], marking: [claimed[0].id], owner: "a", now: now)
        #expect(try logRows(store) == 1)
        other.settleSendLog()
        #expect(try logRows(store) == 0)
        let sentAt = (now + 1).timeIntervalSince1970
        _ = try store.recordAndMarkSendingSynchronously([fixture.outcome(claimed[0].id, .sent, at: sentAt)], hardBounces: [],
                                                        marking: [claimed[1].id], owner: "a", now: now + 1)
        #expect(try logRows(store) == 0)
        _ = try store.recordAndMarkSendingSynchronously([fixture.outcome(claimed[1].id, .sent, at: sentAt)], hardBounces: [],
                                                        marking: [claimed[2].id], owner: "a", now: now + 1)
        #expect(try logRows(store) == 2)
        store.settleSendLog()
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 2 && counts[.sending] == 1 && counts[.claimed] == 1)
    }
}
