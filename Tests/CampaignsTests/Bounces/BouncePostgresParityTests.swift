import BounceFixtures
@testable import Campaigns
import Foundation
import GRDB
@testable import MailReports
import PostgresStore
import StoreCopy
import Testing
import TestPeers

/// `salvo bounces import` on PostgreSQL records what it records on SQLite. The fixtures'
/// sent store is copied into a new PostgreSQL database; the same messages (Postfix's and
/// Exim's DSNs by mbox and Maildir, the ARF complaint, unsubscribe mails without a token,
/// DSNs matched by the recipient alone, unmatched, too old, and everything again) go to
/// both stores at the same moments; each import must report the same, and the database
/// copied back must hold the same deliveries, attempts, events, messages and suppressions.
@Suite struct BouncePostgresParityTests {
    static let mailto = "unsub@shop.example"

    @Test func everyReportIsRecordedTheSameOnBothStores() async throws {
        let fixture = try await BounceImportTests.sentFixture()
        defer { fixture.remove() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let url = try PostgresURL(server.url(database))
        _ = try await DatabaseCopy.copy(from: fixture.store, to: url, password: nil)
        let postgres = try await PostgresDeliveryStore.connect(to: url)
        let stores: [any BounceStore] = [fixture.store, postgres]

        let replies = [
            MailtoTarget(address: Self.mailto, subject: "unsubscribe").reply(from: "Bob <BOB@full.test>", messageID: "r1@home.test"),
            MailtoTarget(address: Self.mailto, subject: "unsubscribe").reply(from: "someone@else.test", messageID: "r2@home.test"),
        ]
        let mbox = fixture.folder + "/replies.mbox"
        try replies.map { "From sender@home.test Wed Dec  2 00:00:00 2026\n" + $0 + "\n" }.joined()
            .write(toFile: mbox, atomically: true, encoding: .utf8)
        let sources: [@Sendable () -> any BounceSource] = [
            { MboxFile(path: BounceFixtures.postfixMbox) }, { MaildirFolder(path: BounceFixtures.postfixMaildir) },
            { MboxFile(path: BounceFixtures.eximMbox) }, { MboxFile(path: BounceFixtures.complaint) }, { MboxFile(path: mbox) },
        ]
        let importer = BounceImport(verp: VERPAddress(secret: Array(BounceFixtures.verpSecret.utf8)), unsubscribeMailto: Self.mailto)
        let now = Date()
        for round in 0..<2 {
            for (index, source) in sources.enumerated() {
                var summaries: [String] = []
                for store in stores {
                    summaries.append(try await importer.run(source(), into: store, now: { now }).summary)
                }
                #expect(summaries[0] == summaries[1], "round \(round), source \(index)")
                #expect(!summaries[0].hasPrefix("read 0 "), "round \(round), source \(index)")
            }
        }

        // Reports with neither a token nor a known Message-ID: the recipient alone, in
        // another spelling; an address never mailed; an MTA giving up; one too old to match.
        func dsn(_ recipient: String, status: String) -> BounceReading {
            BounceReading(BounceReport(kind: .deliveryStatus(DeliveryStatusNotification(
                reportingMTA: "mx.example", recipients: [.init(finalRecipient: recipient, originalRecipient: nil, action: .failed,
                                                               status: status, diagnosticCode: "smtp; 550 gone", remoteMTA: "mx.bad.test")],
                originalMessageID: nil, originalReturnPath: nil)), envelopeRecipients: ["news@shop.test"], subject: nil))
        }
        let synthetic: [(BounceReading, String, Date)] = [
            (dsn("HAL@bad.test", status: "5.1.1"), "a", now), (dsn("Stranger@elsewhere.test", status: "5.1.1"), "b", now),
            (dsn("IVY@example.net", status: "4.4.7"), "c", now), (dsn("bob@full.test", status: "5.1.1"), "d", now.addingTimeInterval(40 * 86_400)),
            (dsn("bob@full.test", status: "5.1.1"), "e", now), (dsn("bob@full.test", status: "5.1.1"), "e", now),
        ]
        for (reading, sha256, at) in synthetic {
            var outcomes: [BounceRecording] = []
            for store in stores {
                outcomes.append(try await store.recordBounce(reading, sha256: sha256, place: "t", matcher: BounceMatcher(verp: nil, now: at)))
            }
            #expect(outcomes[0] == outcomes[1], "\(sha256)")
        }
        await postgres.shutdown()

        let copied = fixture.folder + "/from-postgres.db"
        _ = try await DatabaseCopy.copy(from: url, password: nil, toSQLite: copied)
        let back = try SalvoStore(path: copied)
        for table in [
            "SELECT id, state, last_code, last_enhanced_code, last_response FROM deliveries ORDER BY id",
            "SELECT delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host FROM attempts ORDER BY delivery_id, id",
            "SELECT message_sha256, delivery_id, lower(email), kind, status, diagnostic, remote_mta, matched_by, created_at FROM bounce_events ORDER BY message_sha256, id",
            "SELECT sha256, place, kind, reporter, processed_at FROM bounce_messages ORDER BY sha256",
            "SELECT lower(email), reason, detail, created_at FROM suppressions ORDER BY 1",
            "SELECT lower(email), campaign, channel, at, undone_at FROM unsubscribes ORDER BY 1",
            "SELECT list_id, lower(email), reason, detail FROM list_suppressions ORDER BY 1, 2",
        ] {
            let expected = try await fixture.store.writer.read { db in try Row.fetchAll(db, sql: table).map(\.description) }
            let found = try await back.writer.read { db in try Row.fetchAll(db, sql: table).map(\.description) }
            #expect(found == expected, "\(table)")
        }
        // What the imports mean, so the comparison above compares something.
        let states = try fixture.states()
        #expect(states["hal@bad.test"] == "bounced" && states["ivy@example.net"] == "failed" && states["bob@full.test"] == "bounced",
                "\(states)")
        #expect(try fixture.store.unsubscribes().map(\.email) == ["bob@full.test"])
    }
}
