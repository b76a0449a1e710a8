@testable import Campaigns
import Delivery
import Foundation
import GRDB
import Testing

/// A crash is simulated by an owner that claimed and marked rows and then said nothing
/// more: no heartbeat (or one long stale), no record, no release.
@Suite struct CrashRecoveryTests {
    @Test func claimedGoBackToPendingSendingBecomeUnknown() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 10))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        // The process that died: claimed 6, had 2 on the wire, recorded 1 of them.
        let dead = try await store.claimDue(campaign: campaign, now: at(0), limit: 6, owner: "dead")
        _ = try await store.markSending([dead[0].id, dead[1].id], owner: "dead", now: at(5))
        try await store.record([fixture.outcome(dead[0].id, .sent, at: 6)], owner: "dead")

        // The next `salvo send`.
        try await store.heartbeat(owner: "next", now: at(100))
        let recovery = try await store.recoverAbandoned(campaign: campaign, owner: "next", now: at(100))
        #expect(recovery == DeliveryRecovery(released: 4, unknown: 1))
        let counts = try await store.stateCounts(campaign: campaign)
        #expect(counts[.sent] == 1 && counts[.unknown] == 1 && counts[.pending] == 8)

        let unknown = try store.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [dead[1].id])!
        }
        #expect(unknown["attempts"] as Int == 1 && unknown["last_attempt_at"] as Int64 == 5)
        let logged = try await store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT outcome FROM attempts WHERE delivery_id = ?", arguments: [dead[1].id])
        }
        #expect(logged == "unknown")

        // Unknown is never claimed again by itself ...
        var claimedIDs: Set<Int64> = []
        while true {
            let batch = try await store.claimDue(campaign: campaign, now: at(200), limit: 3, owner: "next")
            if batch.isEmpty { break }
            claimedIDs.formUnion(batch.map(\.id))
            _ = try await store.markSending(batch.map(\.id), owner: "next", now: at(200))
            try await store.record(batch.map { fixture.outcome($0.id, .sent, at: 201) }, owner: "next")
        }
        #expect(claimedIDs.count == 8 && !claimedIDs.contains(dead[1].id) && !claimedIDs.contains(dead[0].id))
        #expect(try await store.finishIfComplete(campaign: campaign, now: at(300)))  // unknown is final

        // ... only after --resend-unknown.
        #expect(try await store.resendUnknown(campaign: campaign) == 1)
        #expect(try await store.campaignControl(campaign: campaign) == .running)
        let resent = try await store.claimDue(campaign: campaign, now: at(400), limit: 10, owner: "next")
        #expect(resent.map(\.id) == [dead[1].id])
    }

    @Test func aLiveOwnerOnThisHostKeepsItsClaims() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 4))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        try await store.heartbeat(owner: "alive", now: at(0))
        let held = try await store.claimDue(campaign: campaign, now: at(0), limit: 2, owner: "alive")
        _ = try await store.markSending([held[0].id], owner: "alive", now: at(0))

        // Its process (this one) runs and its heartbeat is fresh: nothing to recover.
        #expect(try await store.recoverAbandoned(campaign: campaign, owner: "other", now: at(30)) == DeliveryRecovery())
        // Silent for longer than the lease: presumed dead even though the process runs.
        let late = at(SalvoStore.senderLease + 1)
        #expect(try await store.recoverAbandoned(campaign: campaign, owner: "other", now: late)
                == DeliveryRecovery(released: 1, unknown: 1))
        // Its reply arriving after all still wins over "unknown".
        #expect(try await store.record([fixture.outcome(held[0].id, .sent)], owner: "alive") == 1)
        // But its other claim is gone: markSending refuses it, so it is not sent twice.
        #expect(try await store.markSending([held[1].id], owner: "alive", now: late).isEmpty)
    }

    @Test func anOwnerWhoseProcessEndedIsRecoveredAtOnce() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        _ = try await store.claimDue(campaign: campaign, now: at(0), limit: 3, owner: "killed")
        // A heartbeat a second ago, from a process of this host that no longer exists.
        try await store.writer.write { db in
            try db.execute(sql: "INSERT INTO senders VALUES ('killed', ?, '999999999:1', 0, 99)",
                           arguments: [SenderProcess.current.host])
        }
        #expect(try await store.recoverAbandoned(campaign: campaign, owner: "next", now: at(100)).released == 3)
        #expect(try await store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM senders") } == 0)
    }

    @Test func signOffReleasesWhatIsHeld() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        let store = fixture.store
        try await store.heartbeat(owner: "e", now: at(0))
        _ = try await store.claimDue(campaign: campaign, now: at(0), limit: 3, owner: "e")
        try await store.signOff(owner: "e")
        #expect(try await store.stateCounts(campaign: campaign)[.pending] == 3)
        #expect(SenderProcess.isAlive(SenderProcess.current.process))
    }
}

@Suite struct SenderProcessTests {
    /// A real process, alive and then killed with SIGKILL, as `kill -9` leaves a sender.
    @Test func tellsARunningProcessFromAKilledOne() throws {
        #if os(Linux)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        let identity = try #require(SenderProcess.identity(of: child.processIdentifier))
        #expect(SenderProcess.isAlive(identity))
        #expect(!SenderProcess.isAlive(identity.prefix { $0 != ":" } + ":1"))  // same pid, other start: a reused pid
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(!SenderProcess.isAlive(identity))
        #endif
    }
}
