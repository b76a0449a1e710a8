@testable import Campaigns
import Delivery
import Foundation
import GRDB
import Testing

@Suite struct CampaignStartTests {
    @Test func startQueuesTheSegmentAndSuppressesListedAddresses() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 10), segment: #"country == "NG""#)
        defer { fixture.remove() }
        try fixture.store.suppress(["USER2@A.example"], reason: .manual)  // not on the list (user2 is @c.example)
        try fixture.store.suppress(["user4@b.example"], reason: .unsubscribe)
        try fixture.store.suppress(["USER6@A.EXAMPLE"], reason: .complaint)  // compared case-insensitively
        let start = try fixture.store.startCampaign(named: fixture.campaign, now: at(50))
        #expect(start.queued == 3 && start.suppressed == 2 && start.total == 5)
        let states = try fixture.states()
        #expect(Set(states.keys) == ["user0@a.example", "user2@c.example", "user4@b.example", "user6@a.example", "user8@c.example"])
        #expect(states["user4@b.example"] == "suppressed" && states["user6@a.example"] == "suppressed")
        let row = try fixture.store.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT state, started_at FROM campaigns")!
        }
        #expect(row["state"] as String == "running" && row["started_at"] as Int64 == 50)
        let domains = try await fixture.store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT domain FROM deliveries ORDER BY domain")
        }
        #expect(domains == ["a.example", "b.example", "c.example"])
    }

    @Test func theAudienceIsDecidedAtTheFirstStart() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 6))
        defer { fixture.remove() }
        let first = try fixture.store.startCampaign(named: fixture.campaign, now: at(10))
        #expect(first.queued == 6)
        let more = writeFile(Array("email,name\nlate@d.example,Late\n".utf8), in: fixture.folder, name: "more.csv")
        _ = try ListImport(listName: "customers", path: more).run(in: fixture.store)
        let again = try fixture.store.startCampaign(named: fixture.campaign, now: at(20))
        #expect(again.queued == 0 && again.suppressed == 0 && again.total == 6)
        #expect(try fixture.states()["late@d.example"] == nil)
    }

    @Test func aLiveAudienceIsIdempotentAndAddsLaterRecipients() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 6), audience: .live)
        defer { fixture.remove() }
        let first = try fixture.store.startCampaign(named: fixture.campaign, now: at(10))
        #expect(first.queued == 6)
        let again = try fixture.store.startCampaign(named: fixture.campaign, now: at(20))
        #expect(again.queued == 0 && again.suppressed == 0 && again.total == 6)

        let more = writeFile(Array("email,name\nlate@d.example,Late\n\"\"\"odd@x\"\"@e.example\",Odd\n".utf8), in: fixture.folder, name: "more.csv")
        _ = try ListImport(listName: "customers", path: more).run(in: fixture.store)
        let third = try fixture.store.startCampaign(named: fixture.campaign, now: at(30))
        #expect(third.queued == 2 && third.total == 8)
        let row = try fixture.store.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT started_at, (SELECT domain FROM deliveries WHERE email LIKE '\"%') AS odd FROM campaigns")!
        }
        #expect(row["started_at"] as Int64 == 10)
        #expect(row["odd"] as String? == "e.example")
    }

    @Test func anAddressSuppressedWhileRunningIsNotClaimed() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3))
        defer { fixture.remove() }
        let campaign = try fixture.store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        try fixture.store.suppress(["user1@b.example"], reason: .complaint)
        let claimed = try await fixture.store.claimDue(campaign: campaign, now: at(0), limit: 3, owner: "e")
        #expect(claimed.map(\.email) == ["user0@a.example", "user2@c.example"])
        #expect(try fixture.states()["user1@b.example"] == "suppressed")
        let held = try await fixture.store.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deliveries WHERE claimed_by IS NOT NULL")
        }
        #expect(held == 2)
    }

    /// Measures; asserts only correctness. Run with SALVO_STORE_BENCH=1 (rows in
    /// SALVO_STORE_BENCH_ROWS, default 1,000,000; rows per transaction in
    /// SALVO_STORE_BENCH_BATCH, default 1,000); the figures go to the report, not to a
    /// threshold.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SALVO_STORE_BENCH"] != nil))
    func throughput() async throws {
        let rows = Int(ProcessInfo.processInfo.environment["SALVO_STORE_BENCH_ROWS"] ?? "") ?? 1_000_000
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await store.writer.write { db in
            try db.execute(sql: #"INSERT INTO lists (id, name, columns, created_at) VALUES (1, 'big', '["name","country"]', 0)"#)
            try db.execute(sql: """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO recipients (list_id, email, attributes, created_at, updated_at)
                SELECT 1, 'user' || i || '@d' || (i % 10) || '.example',
                       json_array('User ' || i, CASE WHEN i % 2 = 0 THEN 'NG' ELSE 'GH' END), 0, 0 FROM n
                """, arguments: [rows])
            try db.execute(sql: """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO suppressions (email, reason, created_at) SELECT 'USER' || (i * 100) || '@d' || ((i * 100) % 10) || '.example', 'manual', 0 FROM n
                """, arguments: [rows / 100])
        }
        let template = folder + "/big.txt.mustache"
        try "Hi\n".write(toFile: template, atomically: true, encoding: .utf8)
        try store.createCampaign(CampaignDefinition(name: "big", list: "big", segment: nil, from: "a@b.example", subject: "s", text: template),
                                 sourcePath: "big.yml")
        var clock = ContinuousClock.now
        let start = try store.startCampaign(named: "big", now: at(0))
        let startTime = ContinuousClock.now - clock
        #expect(start.queued + start.suppressed == rows && start.suppressed == rows / 100)

        let batch = Int(ProcessInfo.processInfo.environment["SALVO_STORE_BENCH_BATCH"] ?? "") ?? 1_000
        var claimTime = Duration.zero, sendingTime = Duration.zero, recordTime = Duration.zero
        var claimed = 0
        let sample = min(rows, 200_000)
        while claimed < sample {
            clock = .now
            let deliveries = try await store.claimDue(campaign: start.campaignID, now: at(1), limit: batch, owner: "bench")
            claimTime += ContinuousClock.now - clock
            if deliveries.isEmpty { break }
            clock = .now
            _ = try await store.markSending(deliveries.map(\.id), owner: "bench", now: at(1))
            sendingTime += ContinuousClock.now - clock
            clock = .now
            let outcomes = deliveries.map {
                DeliveryOutcome(deliveryID: $0.id, state: .sent, code: 250, enhancedCode: "2.0.0", response: "250 2.0.0 Ok: queued as ABC",
                                mxHost: "mx.example", messageID: "<\($0.id)@b.example>", attemptedAt: at(2))
            }
            try await store.record(outcomes, owner: "bench")
            recordTime += ContinuousClock.now - clock
            claimed += deliveries.count
        }
        func perSecond(_ d: Duration) -> Int { Int(Double(claimed) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)) }
        print("store bench: start \(rows) recipients in \(startTime); over \(claimed) deliveries at \(batch)/transaction: claim \(perSecond(claimTime)) rows/s, markSending \(perSecond(sendingTime)) rows/s, record \(perSecond(recordTime)) rows/s")
        clock = .now
        let counts = try await store.stateCounts(campaign: start.campaignID)
        print("store bench: stateCounts over \(counts.total) deliveries in \(ContinuousClock.now - clock)")
        #expect(counts[.sent] == claimed)
    }
}
