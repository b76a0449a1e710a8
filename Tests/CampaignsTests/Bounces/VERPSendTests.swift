import BounceFixtures
@testable import Campaigns
@testable import MailReports
import Delivery
import Foundation
import GRDB
import MailMessage
import Testing
import TestPeers

/// VERP end to end: the engine sends through smtp-sink on loopback with `verp: true`,
/// the sink sees each delivery's own MAIL FROM and the campaign's From header, and the
/// Postfix DSN fixture, readdressed to that MAIL FROM, bounces exactly that delivery.
@Suite struct VERPSendTests {
    @Test func sinkSeesTheVERPSenderAndItsBounceMatches() async throws {
        let fixture = try DeliveryFixture(csv: "email,name\nann@ok.test,Ann\nbob@ok.test,Bob\n")
        defer { fixture.remove() }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        var configuration = SalvoConfiguration()
        configuration.helo = "verp.test"
        configuration.delivery.routes = ["ok.test": .init(host: "127.0.0.1", port: sink.port)]
        configuration.verp = SalvoConfiguration.VERPSettings()
        let environment = ["SALVO_UNSUBSCRIBE_SECRET": BounceFixtures.verpSecret]
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: environment)
        let verp = try #require(try configuration.verpAddress(from: composer.settings.from, environment: environment))
        let summary = try await fixture.send(configuration: configuration, composer: composer, verp: verp, owner: "verp-test")
        #expect(summary.sent == 2, "\(summary)")

        let ids = try Dictionary(uniqueKeysWithValues: fixture.store.deliveryIDs())
        let received = try sink.transactions()
        #expect(received.count == 2)
        for transaction in received {
            let email = String(transaction.rcptArgs[0].dropFirst().dropLast())
            let id = try #require(ids[email])
            #expect(transaction.mailArgs.hasPrefix("<\(verp.address(for: id))>"), "\(transaction.mailArgs)")
            #expect(transaction.mailArgs.hasPrefix("<bounces+\(id)-") && transaction.mailArgs.contains("@shop.example>"))
            // The header From stays the campaign's (smtp-sink dumps LF line ends).
            #expect(String(decoding: transaction.message, as: UTF8.self).contains("From: \"Shop\" <news@shop.example>\n"))
        }

        // Postfix's hard bounce, sent back to bob's envelope sender.
        let fixtureDSN = String(decoding: try await BounceFixtures.messages(BounceFixtures.postfixMbox)[0].bytes, as: UTF8.self)
        let fixtureReport = try await BounceFixtures.report(BounceFixtures.postfixMbox, 0)
        let fixtureSender = try #require(fixtureReport.envelopeRecipients.first)
        let bob = try #require(ids["bob@ok.test"])
        let dsn = fixtureDSN.replacingOccurrences(of: fixtureSender, with: verp.address(for: bob))
            .replacingOccurrences(of: "ann@bad.test", with: "robert@elsewhere.test")  // an alias's final address
            .replacingOccurrences(of: "<fixture-1@shop.test>", with: "<unknown@shop.test>")
        let report = try BounceReport.parse(Array(dsn.utf8))
        let outcome = try fixture.store.recordBounce(report, sha256: "verp", place: "test", verp: configuration.verpReader(environment: environment))
        #expect(outcome == .recorded(kind: .hardBounce, unmatched: false))
        #expect(try fixture.states() == ["ann@ok.test": "sent", "bob@ok.test": "bounced"])
        #expect(try fixture.store.isSuppressed("bob@ok.test"))
    }
}

extension SalvoStore {
    /// Every delivery's id, by address.
    func deliveryIDs() throws -> [(String, Int64)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT email, id FROM deliveries").map { ($0["email"], $0["id"]) }
        }
    }
}
