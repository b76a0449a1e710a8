@testable import Campaigns
import Delivery
import Foundation
import GRDB
import Testing

/// What protected each attempt's session, as the SQLite store keeps it: every `attempts`
/// row has its own; `deliveries` (and so the report) has the last session that reached a
/// server's, through the send log as through a direct record.
@Suite struct AttemptTLSTests {
    @Test func attemptsKeepTheirTLSAndTheReportTheLastServersSession() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 1))
        defer { fixture.remove() }
        let store = fixture.store
        let campaign = try store.startCampaign(named: fixture.campaign, now: at(0)).campaignID
        func claim(_ now: TimeInterval) async throws -> Int64 {
            let claimed = try await store.claimDue(campaign: campaign, now: at(now), limit: 1, owner: "engine")
            return try #require(claimed.first).id
        }
        func attempts() throws -> [String] {
            try store.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT outcome, tls_version, tls_verified FROM attempts ORDER BY id").map { row in
                    "\(row["outcome"] as String) \(row["tls_version"] as String? ?? "-") \((row["tls_verified"] as Bool?).map { "\($0)" } ?? "-")"
                }
            }
        }
        func reported() throws -> (String?, Bool?) {
            let row = try #require(try store.deliveryReport(campaign: fixture.campaign).first)
            return (row.tlsVersion, row.tlsVerified)
        }

        // A session in TLS 1.3 with a verified certificate, through the send log.
        let id = try await claim(0)
        var encrypted = fixture.outcome(id, .deferred, code: 451, at: 10, next: 20)
        encrypted.tlsVersion = "TLSv1.3"
        encrypted.certificateVerified = true
        _ = try store.recordAndMarkSendingSynchronously([encrypted], hardBounces: [], marking: [], owner: "engine", now: at(10))
        #expect(try reported() == ("TLSv1.3", true))

        // A refused connection: no server, no session. Its attempt has no TLS; the report
        // keeps the last server's session, as it keeps its `mx_host`.
        _ = try await claim(20)
        let refused = DeliveryOutcome(deliveryID: id, state: .deferred, response: "connection refused",
                                      attemptedAt: at(21), nextAttemptAt: at(30))
        #expect(try await store.record([refused], owner: "engine") == 1)
        #expect(try reported() == ("TLSv1.3", true))

        // A session in clear text: the report says no TLS.
        _ = try await claim(30)
        #expect(try await store.markSending([id], owner: "engine", now: at(30)) == [id])
        #expect(try await store.record([fixture.outcome(id, .sent, at: 31)], owner: "engine") == 1)
        #expect(try reported() == (nil, nil))

        #expect(try attempts() == ["deferred TLSv1.3 true", "deferred - -", "sent - -"])
    }
}
