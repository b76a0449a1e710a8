import BounceFixtures
@testable import Campaigns
@testable import MailReports
import Delivery
import Foundation
import GRDB
import Testing

/// The fixtures' DSNs and complaint against a store whose deliveries are the messages
/// the script sent: ids 1…8 in the order of the fixture messages, zoe sharing cat's
/// message (one message to two recipients).
@Suite struct BounceImportTests {
    static let recipients = ["ann@bad.test", "bob@full.test", "cat@bad.test", "eve@bad.test", "fay@bad.test",
                             "gus@bad.test", "hal@bad.test", "ivy@example.net", "zoe@bad.test"]

    /// Every delivery sent (message `<fixture-N@shop.test>`, N its id, zoe's N = 3).
    static func sentFixture() async throws -> DeliveryFixture {
        var csv = "email,name\n"
        for email in recipients { csv += "\(email),x\n" }
        let fixture = try DeliveryFixture(csv: csv)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let claimed = try await fixture.store.claimDue(campaign: start.campaignID, now: Date(), limit: 20, owner: "t", excludingDomains: [])
        let ids = Dictionary(uniqueKeysWithValues: claimed.map { ($0.email, $0.id) })
        for (index, email) in recipients.prefix(8).enumerated() {
            #expect(ids[email] == Int64(index + 1), "deliveries are numbered as the fixtures expect")
        }
        _ = try await fixture.store.markSending(claimed.map(\.id), owner: "t", now: Date())
        let outcomes = claimed.map { delivery in
            let number = delivery.email == "zoe@bad.test" ? 3 : delivery.id
            return DeliveryOutcome(deliveryID: delivery.id, state: .sent, code: 250, enhancedCode: "2.0.0", response: "250 ok",
                                   mxHost: "127.0.0.1", messageID: "<fixture-\(number)@shop.test>", attemptedAt: Date(), nextAttemptAt: nil)
        }
        #expect(try await fixture.store.record(outcomes, hardBounces: [], owner: "t") == 9)
        return fixture
    }

    static func importer() -> BounceImport { BounceImport(verp: VERPAddress(secret: Array(BounceFixtures.verpSecret.utf8))) }

    @Test func mboxMaildirAndComplaintThenAgain() async throws {
        let fixture = try await Self.sentFixture()
        defer { fixture.remove() }
        let store = fixture.store
        let importer = Self.importer()

        let postfix = try await importer.run(MboxFile(path: BounceFixtures.postfixMbox), into: store)
        #expect(postfix.summary == "read 3 messages: 2 hard bounces, 1 soft, 0 complaints, 0 unsubscribes, 0 not bounces; 0 already processed; 0 unmatched")
        let maildir = try await importer.run(MaildirFolder(path: BounceFixtures.postfixMaildir), into: store)
        #expect(maildir.summary == "read 2 messages: 2 hard bounces, 0 soft, 0 complaints, 0 unsubscribes, 0 not bounces; 0 already processed; 0 unmatched")
        let exim = try await importer.run(MboxFile(path: BounceFixtures.eximMbox), into: store)
        #expect(exim.hardBounces == 2 && exim.unmatched == 0)
        let complaint = try await importer.run(MboxFile(path: BounceFixtures.complaint), into: store)
        #expect(complaint.summary == "read 1 messages: 0 hard bounces, 0 soft, 1 complaint, 0 unsubscribes, 0 not bounces; 0 already processed; 0 unmatched")

        let states = try fixture.states()
        #expect(states == ["ann@bad.test": "bounced", "bob@full.test": "sent", "cat@bad.test": "bounced", "zoe@bad.test": "bounced",
                           "eve@bad.test": "bounced", "fay@bad.test": "bounced", "gus@bad.test": "bounced", "hal@bad.test": "bounced",
                           "ivy@example.net": "sent"])
        let reasons = Dictionary(uniqueKeysWithValues: try store.suppressions().map { ($0.email, $0.reason) })
        #expect(reasons == ["ann@bad.test": "hard-bounce", "cat@bad.test": "hard-bounce", "zoe@bad.test": "hard-bounce",
                            "eve@bad.test": "hard-bounce", "fay@bad.test": "hard-bounce", "gus@bad.test": "hard-bounce",
                            "hal@bad.test": "hard-bounce", "ivy@example.net": "complaint"])

        // The DSN's reply is the delivery's last reply, with an attempt logged for it.
        let report = Dictionary(uniqueKeysWithValues: try store.deliveryReport(campaign: fixture.campaign).map { ($0.email, $0) })
        #expect(report["ann@bad.test"]?.smtpCode == 550)
        #expect(report["ann@bad.test"]?.enhancedCode == "5.1.1")
        #expect(report["ann@bad.test"]?.response?.hasPrefix("550 5.1.1 <user>: Recipient address rejected") == true)
        #expect(report["ann@bad.test"]?.attempts == 1)
        let matches = try await store.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: """
                SELECT e.email, e.kind, e.matched_by, (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = e.delivery_id AND a.outcome = 'bounced') AS logged
                FROM bounce_events e
                """).map { ($0["email"] as String, "\($0["kind"] as String) \($0["matched_by"] as String? ?? "-") \($0["logged"] as Int)") })
        }
        #expect(matches == ["ann@bad.test": "hard-bounce verp 1", "bob@full.test": "delayed verp 0", "cat@bad.test": "hard-bounce message-id 1",
                            "zoe@bad.test": "hard-bounce message-id 1", "eve@bad.test": "hard-bounce verp 1",
                            // The forged tag matches nothing; the Message-ID finds the delivery.
                            "fay@bad.test": "hard-bounce message-id 1",
                            "gus@bad.test": "hard-bounce verp 1", "hal@bad.test": "hard-bounce message-id 1",
                            "ivy@example.net": "complaint message-id 0"])
        #expect(try store.bounceEvents(deliveryID: 8) == ["complaint"])
        #expect(try store.status(campaign: fixture.campaign).complaints == 1)

        // Everything again: nothing changes, every message already processed.
        let before = try snapshot(store)
        for path in [BounceFixtures.postfixMbox, BounceFixtures.eximMbox, BounceFixtures.complaint] {
            let again = try await importer.run(MboxFile(path: path), into: store)
            #expect(again.alreadyProcessed == again.read && again.read > 0)
        }
        let again = try await importer.run(MaildirFolder(path: BounceFixtures.postfixMaildir), into: store)
        #expect(again.summary == "read 2 messages: 0 hard bounces, 0 soft, 0 complaints, 0 unsubscribes, 0 not bounces; 2 already processed; 0 unmatched")
        #expect(try snapshot(store) == before)
    }

    /// Without VERP or a known Message-ID, the most recent delivery to the address is
    /// matched; a hard bounce for an address Salvo never mailed still suppresses it.
    @Test func recipientFallbackAndUnmatched() async throws {
        let fixture = try await Self.sentFixture()
        defer { fixture.remove() }
        let store = fixture.store
        func dsn(_ recipient: String, status: String) -> BounceReport {
            BounceReport(kind: .deliveryStatus(DeliveryStatusNotification(
                reportingMTA: "mx.example", recipients: [.init(finalRecipient: recipient, originalRecipient: nil, action: .failed,
                                                               status: status, diagnosticCode: "smtp; 550 gone", remoteMTA: nil)],
                originalMessageID: nil, originalReturnPath: nil)), envelopeRecipients: ["news@shop.test"], subject: nil)
        }
        #expect(try store.recordBounce(dsn("HAL@bad.test", status: "5.1.1"), sha256: "a", place: "t", verp: nil)
                == .recorded(kind: .hardBounce, unmatched: false))
        #expect(try fixture.states()["hal@bad.test"] == "bounced")
        #expect(try store.recordBounce(dsn("stranger@elsewhere.test", status: "5.1.1"), sha256: "b", place: "t", verp: nil)
                == .recorded(kind: .hardBounce, unmatched: true))
        #expect(try store.isSuppressed("stranger@elsewhere.test"))
        // Gave up after retrying (4.x.x): failed, not suppressed.
        #expect(try store.recordBounce(dsn("gus@bad.test", status: "4.4.7"), sha256: "c", place: "t", verp: nil)
                == .recorded(kind: .softBounce, unmatched: false))
        #expect(try fixture.states()["gus@bad.test"] == "failed")
        #expect(!(try store.isSuppressed("gus@bad.test")))
        // Too old for the recipient rule: unmatched (but a dead address all the same).
        #expect(try store.recordBounce(dsn("eve@bad.test", status: "5.1.1"), sha256: "d", place: "t", verp: nil,
                                       now: Date().addingTimeInterval(40 * 86_400)) == .recorded(kind: .hardBounce, unmatched: true))
        #expect(try fixture.states()["eve@bad.test"] == "sent")
    }

    /// A malformed message is named with its place and the import goes on.
    @Test func malformedMessagesAreReportedAndSkipped() async throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let hard = String(decoding: try await BounceFixtures.messages(BounceFixtures.postfixMbox)[0].bytes, as: UTF8.self)
        let mbox = "From MAILER-DAEMON Wed Nov 25 14:36:19 2026\n" + hard + "\n\n"
            + "From a@b Wed Nov 25 14:36:19 2026\nContent-Type: multipart/report; report-type=delivery-status\n\nno boundary\n\n"
            + "From a@b Wed Nov 25 14:36:19 2026\nSubject: Out of office\n\nBack Monday.\n"
        let path = writeFile(Array(mbox.utf8), in: folder, name: "mixed.mbox")
        var named: [String] = []
        let report = try await Self.importer().run(MboxFile(path: path), into: store, onMalformed: { named.append($0.description) })
        #expect(report.summary == "read 3 messages: 1 hard bounces, 0 soft, 0 complaints, 0 unsubscribes, 1 not bounces, 1 malformed; 0 already processed; 1 unmatched")
        #expect(named == ["mixed.mbox message 2: multipart/report without a boundary parameter"])
        let again = try await Self.importer().run(MboxFile(path: path), into: store)
        #expect(again.alreadyProcessed == 2 && again.malformed.count == 1)
    }

    private func snapshot(_ store: SalvoStore) throws -> [String] {
        try store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT id || ' ' || state || ' ' || IFNULL(last_code, '') FROM deliveries ORDER BY id")
                + String.fetchAll(db, sql: "SELECT email || ' ' || reason FROM suppressions ORDER BY email")
                + String.fetchAll(db, sql: "SELECT COUNT(*) FROM attempts")
                + String.fetchAll(db, sql: "SELECT COUNT(*) FROM bounce_events")
        }
    }
}
