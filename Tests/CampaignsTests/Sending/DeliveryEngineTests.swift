@testable import Campaigns
import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

/// The whole send path against real servers: a store on disk, the sample templates, the
/// engine, and three smtp-sink peers on loopback that accept, defer and refuse.
@Suite(.serialized) struct DeliveryEngineTests {
    struct Fixture {
        let store: SalvoStore
        let folder: String
        let campaign = "engine-test"

        init(recipients: [String]) throws {
            let (store, folder) = try temporaryStore()
            self.store = store
            self.folder = folder
            var csv = "email,first_name\n"
            for (i, email) in recipients.enumerated() { csv += "\(email),Person\(i)\n" }
            _ = try ListImport(listName: "people", path: writeFile(Array(csv.utf8), in: folder)).run(in: store)
            try "Hello {{first_name}},\n\nA test message.\n".write(toFile: folder + "/body.txt.mustache", atomically: true, encoding: .utf8)
            try """
                name: \(campaign)
                list: people
                from: "Shop <news@shop.test>"
                subject: "Hi {{first_name}}"
                text: body.txt.mustache
                unsubscribe: "https://shop.test/u"
                """.write(toFile: folder + "/campaign.yml", atomically: true, encoding: .utf8)
            try store.createCampaign(CampaignDefinition.load(path: folder + "/campaign.yml"), sourcePath: folder + "/campaign.yml")
        }

        func engine(routes: [String: Int], retry: RetryPolicy) throws -> DeliveryEngine {
            var configuration = SalvoConfiguration()
            configuration.helo = "engine.test"
            configuration.delivery.routes = routes.mapValues { .init(host: "127.0.0.1", port: $0) }
            let (definition, source) = try store.campaign(named: campaign)
            let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
            var settings = DeliveryEngine.Settings(owner: "test:\(UUID().uuidString.prefix(6))", mx: configuration.mxSession(), retry: retry)
            settings.mx.timeouts = .uniform(.seconds(5))
            return DeliveryEngine(store: store, router: configuration.router(), renderer: CampaignRenderer(composer: composer),
                                  policy: try configuration.deliveryPolicy(), settings: settings)
        }

        /// Moves every delivery's times `seconds` into the past, as though that long had
        /// passed since its attempts: a retry falls due, or a delivery grows old enough to
        /// give up, without the test waiting for the wall clock.
        func age(by seconds: Int64) throws {
            store.settleSendLog()
            try store.writer.write { db in
                try db.execute(sql: """
                    UPDATE deliveries SET next_attempt_at = next_attempt_at - ?1, first_attempt_at = first_attempt_at - ?1,
                                          last_attempt_at = last_attempt_at - ?1
                    """, arguments: [seconds])
            }
        }

        func report() throws -> [String: DeliveryReportRow] {
            Dictionary(uniqueKeysWithValues: try store.deliveryReport(campaign: campaign).map { ($0.email, $0) })
        }
    }

    @Test func acceptedDeferredThenSentAndBounced() async throws {
        let fixture = try Fixture(recipients: ["a1@ok.test", "a2@ok.test", "b1@slow.test", "c1@bad.test"])
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let ok = try await SMTPSinkPeer.start()
        let slow = try await SMTPSinkPeer.start(options: ["-r", "RCPT", "-b", "451 4.3.0 try again later"])
        let bad = try await SMTPSinkPeer.start(options: ["-f", "RCPT", "-B", "550 5.1.1 no such user"])
        defer { ok.stop(); bad.stop() }
        let routes = ["ok.test": ok.port, "slow.test": slow.port, "bad.test": bad.port]
        let retry = RetryPolicy(intervals: [.seconds(900)], maxAge: .seconds(4 * 3600))
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        #expect(start.queued == 4)

        let first = try await fixture.engine(routes: routes, retry: retry).run(campaign: start.campaignID)
        #expect(first.sent == 2 && first.deferred == 1 && first.bounced == 1, "\(first)")
        var report = try fixture.report()
        #expect(report["b1@slow.test"]?.status == "deferred")
        #expect(report["b1@slow.test"]?.smtpCode == 451)
        #expect(report["c1@bad.test"]?.status == "bounced")
        #expect(report["c1@bad.test"]?.enhancedCode == "5.1.1")
        // A 5.1.1 is a hard bounce: the address is suppressed for every later campaign.
        #expect(try fixture.store.isSuppressed("c1@bad.test"))

        // The slow site recovers; the next pass after the retry interval delivers.
        slow.stop()
        let recovered = try await SMTPSinkPeer.start(port: slow.port)
        defer { recovered.stop() }
        try fixture.age(by: 900)
        let second = try await fixture.engine(routes: routes, retry: retry).run(campaign: start.campaignID)
        #expect(second.sent == 1 && second.attempts == 1, "\(second)")
        report = try fixture.report()
        #expect(report["b1@slow.test"]?.status == "sent")
        #expect(report["b1@slow.test"]?.attempts == 2)
        #expect(report["a1@ok.test"]?.attempts == 1)
        #expect(report["c1@bad.test"]?.attempts == 1)

        // What the servers received: each accepted recipient exactly once, with its own message.
        let delivered = try ok.transactions() + recovered.transactions()
        #expect(delivered.map(\.rcptArgs).sorted { $0[0] < $1[0] } == [["<a1@ok.test>"], ["<a2@ok.test>"], ["<b1@slow.test>"]])
        #expect(delivered.allSatisfy { $0.mailArgs.hasPrefix("<news@shop.test>") })
        #expect(delivered.contains { String(decoding: $0.message, as: UTF8.self).contains("Hello Person2,") })
        // The campaign is finished once every recipient is final.
        #expect(try fixture.store.campaignState(named: fixture.campaign) == "finished")
    }

    @Test func givesUpAfterTheMaximumAgeAndDefersUnreachableSites() async throws {
        let fixture = try Fixture(recipients: ["x@down.test"])
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let deadPort = try TestPeers.RefusingPort()
        defer { withExtendedLifetime(deadPort) {} }
        let dead = deadPort.port
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let retry = RetryPolicy(intervals: [.seconds(900)], maxAge: .seconds(1800))
        let first = try await fixture.engine(routes: ["down.test": dead], retry: retry).run(campaign: start.campaignID)
        #expect(first.deferred == 1, "\(first)")
        #expect(try fixture.report()["x@down.test"]?.response?.contains("no destination") == true)
        // Due again, and older than the maximum age once this attempt fails too.
        try fixture.age(by: 1801)
        let second = try await fixture.engine(routes: ["down.test": dead], retry: retry).run(campaign: start.campaignID)
        #expect(second.failed == 1, "\(second)")
        let row = try fixture.report()["x@down.test"]
        #expect(row?.status == "failed")
        #expect(row?.attempts == 2)
    }
}
