@testable import Campaigns
import Delivery
import Foundation
import GRDB
import Testing

@Suite struct DeliveryStoreTests {
    @Test func claimMarkSendingRecordRoundTrip() async throws {
        let fixture = try DeliveryFixture(csv: "email,name,country\nann@b.example,Ann,NG\nbob@a.example,,GH\ncy@b.example,Cy,NG\n")
        defer { fixture.remove() }
        let start = try fixture.store.startCampaign(named: fixture.campaign, now: at(100))
        #expect(start.queued == 3 && start.suppressed == 0 && start.state == "running")
        let campaign = start.campaignID
        let store: any DeliveryStore = fixture.store
        try await store.heartbeat(owner: "engine-1", now: at(100))

        let claimed = try await store.claimDue(campaign: campaign, now: at(100), limit: 10, owner: "engine-1")
        #expect(claimed.map(\.email) == ["bob@a.example", "ann@b.example", "cy@b.example"])  // by domain, then id
        #expect(claimed[0].attributes == ["name": "", "country": "GH"])  // an empty field is stored empty
        #expect(claimed[1].attributes == ["name": "Ann", "country": "NG"])
        #expect(claimed.allSatisfy { $0.attempts == 0 && $0.firstAttemptAt == nil && $0.campaignID == campaign })
        #expect(try await store.claimDue(campaign: campaign, now: at(100), limit: 10, owner: "engine-1").isEmpty)
        #expect(try fixture.states().values.allSatisfy { $0 == "claimed" })

        let ids = claimed.map(\.id)
        let sending = try await store.markSending(ids, owner: "engine-1", now: at(101))
        #expect(sending == Set(ids))
        #expect(try await store.markSending(ids, owner: "engine-1", now: at(101)).isEmpty)  // only claimed rows move
        #expect(try await store.stateCounts(campaign: campaign)[.sending] == 3)

        let recorded = try await store.record([
            fixture.outcome(ids[0], .sent, code: 250, at: 102),
            fixture.outcome(ids[1], .deferred, code: 451, at: 102, next: 1_000),
            fixture.outcome(ids[2], .bounced, code: 550, at: 102),
        ], hardBounces: [], owner: "engine-1")
        #expect(recorded == 3)
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 1 && counts[.deferred] == 1 && counts[.bounced] == 1 && counts.total == 3)
        #expect(!counts.isComplete)

        let row = try fixture.store.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [ids[1]])!
        }
        #expect(row["attempts"] as Int == 1)
        #expect(row["last_code"] as Int == 451)
        #expect(row["last_enhanced_code"] as String == "4.2.0")
        #expect(row["next_attempt_at"] as Int64 == 1_000)
        #expect(row["first_attempt_at"] as Int64 == 102 && row["last_attempt_at"] as Int64 == 102)
        #expect(row["mx_host"] as String == "mx.example")
        #expect(row["claimed_by"] as String? == nil)

        let attempts = try fixture.store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT delivery_id, outcome, code, enhanced_code, mx_host FROM attempts ORDER BY delivery_id")
        }
        #expect(attempts.count == 3)
        #expect(Set(attempts.map { $0["outcome"] as String }) == ["sent", "deferred", "bounced"])
        // A second record of the same outcome is refused: the row is no longer held.
        #expect(try await store.record([fixture.outcome(ids[0], .sent)], owner: "engine-1") == 0)
        #expect(try await store.nextDueAt(campaign: campaign) == at(1_000))
    }

    @Test func deferredRowsWaitForTheirTimeAndKeepTheirHistory() async throws {
        let fixture = try DeliveryFixture(csv: "email,name,country\nann@b.example,Ann,NG\n")
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(100)).campaignID
        let store = fixture.store
        let first = try await store.claimDue(campaign: campaign, now: at(100), limit: 10, owner: "e")
        _ = try await store.markSending([first[0].id], owner: "e", now: at(100))
        try await store.record([fixture.outcome(first[0].id, .deferred, code: 451, at: 100, next: 1_000)], owner: "e")

        #expect(try await store.claimDue(campaign: campaign, now: at(999), limit: 10, owner: "e").isEmpty)
        let again = try await store.claimDue(campaign: campaign, now: at(1_000), limit: 10, owner: "e")
        #expect(again.count == 1)
        #expect(again[0].attempts == 1 && again[0].firstAttemptAt == at(100))
        _ = try await store.markSending([again[0].id], owner: "e", now: at(1_000))
        try await store.record([fixture.outcome(again[0].id, .sent, at: 1_001)], owner: "e")
        let row = try store.writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM deliveries")! }
        #expect(row["state"] as String == "sent" && row["attempts"] as Int == 2)
        #expect(row["first_attempt_at"] as Int64 == 100 && row["last_attempt_at"] as Int64 == 1_001)
        #expect(try await store.finishIfComplete(campaign: campaign, now: at(1_002)))
        #expect(try await store.campaignControl(campaign: campaign) == .finished)
    }

    @Test func retriesAreClaimedBeforeNewRecipientsAndLimitsHold() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 50))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        let firstTen = try await store.claimDue(campaign: campaign, now: at(0), limit: 10, owner: "e")
        #expect(firstTen.count == 10)
        _ = try await store.markSending(firstTen.map(\.id), owner: "e", now: at(0))
        try await store.record(firstTen.map { fixture.outcome($0.id, .deferred, code: 421, at: 0, next: 60) }, owner: "e")
        let next = try await store.claimDue(campaign: campaign, now: at(60), limit: 15, owner: "e")
        #expect(next.count == 15)
        #expect(Set(next.filter { $0.attempts == 1 }.map(\.id)) == Set(firstTen.map(\.id)))
        // Domains the engine cannot serve now are left alone.
        let rest = try await store.claimDue(campaign: campaign, now: at(60), limit: 100, owner: "e",
                                            excludingDomains: ["a.example"])
        #expect(!rest.isEmpty && rest.allSatisfy { $0.domain != "a.example" })
        #expect(try await store.stateCounts(campaign: campaign)[.pending] > 0)
    }

    @Test func releaseHandsClaimsBackButNotWhatIsOnTheWire() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 4))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        let claimed = try await store.claimDue(campaign: campaign, now: at(0), limit: 4, owner: "e")
        _ = try await store.markSending([claimed[0].id], owner: "e", now: at(0))
        #expect(try await store.release(claimed.map(\.id), owner: "other") == 0)  // not the holder
        // `sent` needs `sending` first: a message sent unmarked would escape crash recovery.
        #expect(try await store.record([fixture.outcome(claimed[1].id, .sent)], owner: "e") == 0)
        // A failure before any DATA (DNS, connection) may be recorded straight from `claimed`.
        #expect(try await store.record([fixture.outcome(claimed[2].id, .deferred, code: nil, next: 600)], owner: "e") == 1)
        #expect(try await store.release(claimed.map(\.id), owner: "e") == 2)
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.pending] == 2 && counts[.sending] == 1 && counts[.deferred] == 1)
    }

    @Test func twoStoresClaimingInParallelNeverShareARow() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3_000, domains: (0..<7).map { "d\($0).example" }))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let path = fixture.store.path
        let ids = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for engine in 0..<4 {
                group.addTask {
                    let store = try SalvoStore(path: path)  // its own pool: another connection, as another process has
                    var mine: [Int64] = []
                    while true {
                        let batch = try await store.claimDue(campaign: campaign, now: at(0), limit: 37, owner: "engine-\(engine)")
                        if batch.isEmpty { break }
                        let sending = try await store.markSending(batch.map(\.id), owner: "engine-\(engine)", now: at(0))
                        #expect(sending.count == batch.count)
                        try await store.record(batch.map { fixture.outcome($0.id, .sent) }, owner: "engine-\(engine)")
                        mine += batch.map(\.id)
                    }
                    return mine
                }
            }
            var all: [[Int64]] = []
            for try await part in group { all.append(part) }
            return all
        }
        let flat = ids.flatMap { $0 }
        #expect(flat.count == 3_000)
        #expect(Set(flat).count == 3_000)
        #expect(ids.filter { !$0.isEmpty }.count >= 2)  // they really did share the work
        let counts = try await fixture.store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 3_000)
        let attempts = try await fixture.store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attempts")! }
        #expect(attempts == 3_000)
    }

    @Test func recordRefusesOutcomesThatAreNotAnAttemptsEnd() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 1))
        defer { fixture.remove() }
        let store = fixture.store
        await #expect(throws: DeliveryStoreError.deferredWithoutTime(1)) {
            try await store.record([fixture.outcome(1, .deferred, code: 451)], owner: "e")
        }
        await #expect(throws: DeliveryStoreError.outcomeState(1, .pending)) {
            try await store.record([fixture.outcome(1, .pending)], owner: "e")
        }
    }

    @Test func hardBounceSuppressesTheAddress() async throws {
        let fixture = try DeliveryFixture(csv: "email,name,country\nGone@b.example,Ann,NG\nsoft@b.example,S,NG\n")
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        let claimed = try await store.claimDue(campaign: campaign, now: at(0), limit: 10, owner: "e")
        _ = try await store.markSending(claimed.map(\.id), owner: "e", now: at(0))
        let gone = claimed.first { $0.email == "Gone@b.example" }!.id
        let soft = claimed.first { $0.email == "soft@b.example" }!.id
        try await store.record([fixture.outcome(gone, .bounced, code: 550), fixture.outcome(soft, .bounced, code: 552)],
                               hardBounces: [gone], owner: "e")
        #expect(try store.isSuppressed("gone@b.example"))  // case-insensitive
        #expect(!(try store.isSuppressed("soft@b.example")))
        let entry = try store.suppressions().first!
        #expect(entry.reason == "hard-bounce" && entry.detail == "550 5.1.1 550 reply")
    }

    @Test func cancelStopsWhatIsNotOnTheWire() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 6))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        let claimed = try await store.claimDue(campaign: campaign, now: at(0), limit: 3, owner: "e")
        _ = try await store.markSending([claimed[0].id], owner: "e", now: at(0))
        #expect(try await store.campaignControl(campaign: campaign) == .running)
        #expect(try store.cancelCampaign(named: fixture.campaign) == 5)
        #expect(try await store.campaignControl(campaign: campaign) == .cancelled)
        // The engine's next markSending finds its claims taken back: nothing more goes out.
        #expect(try await store.markSending(claimed.dropFirst().map(\.id), owner: "e", now: at(1)).isEmpty)
        try await store.record([fixture.outcome(claimed[0].id, .sent)], owner: "e")
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 1 && counts[.cancelled] == 5 && counts.isComplete)
        #expect(throws: CampaignStateError.cancelled(fixture.campaign)) { try fixture.store.startCampaign(named: fixture.campaign) }
    }

    @Test func pauseAndResumeAreSeenThroughTheStore() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 2))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let other = try SalvoStore(path: fixture.store.path)  // the `salvo pause` process
        try other.pauseCampaign(named: fixture.campaign, reason: "asked by user")
        #expect(try await fixture.store.campaignControl(campaign: campaign) == .paused)
        #expect(try await fixture.store.claimDue(campaign: campaign, now: at(0), limit: 10, owner: "e").isEmpty)
        #expect(throws: CampaignStateError.wrongState(fixture.campaign, state: "paused", action: "pause")) {
            try other.pauseCampaign(named: fixture.campaign)
        }
        // Starting again (a new `salvo send`) adds nothing and leaves it paused.
        #expect(try fixture.store.startCampaign(named: fixture.campaign).state == "paused")
        #expect(try fixture.store.campaignsToRun(now: at(0)).isEmpty)
        try other.resumeCampaign(named: fixture.campaign)
        #expect(try await fixture.store.campaignControl(campaign: campaign) == .running)
        #expect(try await fixture.store.claimDue(campaign: campaign, now: at(0), limit: 10, owner: "e").count == 2)
        #expect(try fixture.store.campaignsToRun(now: at(0)) == [fixture.campaign])
    }
}
