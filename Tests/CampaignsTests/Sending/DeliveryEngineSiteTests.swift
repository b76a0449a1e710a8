@testable import Campaigns
import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

/// The engine's treatment of whole destinations, end to end: MX lookup through a real DNS
/// server with a busy primary and a null MX, and a 421 storm at one site while another
/// site carries on.
@Suite(.serialized) struct DeliveryEngineSiteTests {
    @Test func aBusyPrimaryMXFallsBackToTheBackupAndANullMXBouncesAtOnce() async throws {
        let dns = try await DNSMasqPeer.start([
            "mx-host=backup.test,mx1.hosting.test,10",
            "mx-host=backup.test,mx2.hosting.test,20",
            "host-record=mx1.hosting.test,127.0.0.1",
            "host-record=mx2.hosting.test,127.0.0.1",
            "mx-host=nullmx.test,.,0",
        ])
        defer { dns.stop() }
        // Every MX host of this test is the same loopback peer; its first session is the
        // primary answering 421 at the greeting, the next one is the backup.
        let peer = try await PythonSMTPPeer.start(["--busy-greetings", "1"])
        defer { peer.stop() }
        let fixture = try DeliveryEngineTests.Fixture(recipients: ["r1@backup.test", "n1@nullmx.test"])
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }

        var configuration = SalvoConfiguration()
        configuration.helo = "engine.test"
        configuration.delivery.tls = "none"
        configuration.dns.server = .init(host: "127.0.0.1", port: dns.port)
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
        var settings = DeliveryEngine.Settings(owner: "test:mx", mx: configuration.mxSession(), retry: RetryPolicy())
        settings.mx.timeouts = .uniform(.seconds(5))
        let engine = DeliveryEngine(store: fixture.store, router: configuration.router(mxPort: peer.port),
                                    renderer: CampaignRenderer(composer: composer),
                                    policy: try configuration.deliveryPolicy(), settings: settings)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        #expect(summary.sent == 1 && summary.bounced == 1 && summary.deferred == 0, "\(summary)")
        let report = try fixture.report()
        #expect(report["r1@backup.test"]?.status == "sent")
        #expect(report["r1@backup.test"]?.attempts == 1)
        #expect(report["r1@backup.test"]?.mxHost == "mx2.hosting.test[127.0.0.1]:\(peer.port)")
        #expect(report["n1@nullmx.test"]?.status == "bounced")
        #expect(report["n1@nullmx.test"]?.response?.contains("null MX") == true)
        #expect(try fixture.store.isSuppressed("n1@nullmx.test"))
        // The primary's session was refused at the greeting, the backup's carried the message.
        let events = try peer.events().filter { $0.event != "disconnect" }
        #expect(events.first?.event == "connect" && events.dropFirst().first?.event == "busy")
        #expect(try peer.messages().map(\.rcpt_tos) == [["r1@backup.test"]])
    }

    @Test func a421StormAtOneSiteSlowsThatSiteAndNotTheOthers() async throws {
        let calm = (0..<60).map { "c\($0)@calm.test" }
        let stormy = (0..<60).map { "s\($0)@storm.test" }
        let fixture = try DeliveryEngineTests.Fixture(recipients: calm + stormy)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let calmPeer = try await SMTPSinkPeer.start()
        let stormPeer = try await SMTPSinkPeer.start(options: ["-r", "RCPT", "-b", "421 4.7.0 too many messages, slow down"])
        defer { calmPeer.stop(); stormPeer.stop() }

        var configuration = SalvoConfiguration()
        configuration.helo = "engine.test"
        configuration.delivery.routes = ["calm.test": .init(host: "127.0.0.1", port: calmPeer.port),
                                         "storm.test": .init(host: "127.0.0.1", port: stormPeer.port)]
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
        var settings = DeliveryEngine.Settings(owner: "test:storm", mx: configuration.mxSession(),
                                               retry: RetryPolicy(intervals: [.seconds(60)], maxAge: .seconds(3600)))
        settings.mx.timeouts = .uniform(.seconds(5))
        // A paused site's recipients go back to the store rather than wait in this run.
        settings.longestWait = .milliseconds(200)
        let engine = DeliveryEngine(store: fixture.store, router: configuration.router(),
                                    renderer: CampaignRenderer(composer: composer),
                                    policy: try configuration.deliveryPolicy(), settings: settings)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        let report = try fixture.report()
        // The calm site got everything, in the same run, at its full speed.
        #expect(calm.allSatisfy { report[$0]?.status == "sent" }, "\(summary)")
        #expect(try calmPeer.transactions().count == 60)
        // The stormy site was tried by the connections already at work when the first 421
        // came (five by default, a few messages each at most), then paused; the rest wait
        // in the store for a later run instead of hammering it.
        let tried = stormy.filter { (report[$0]?.attempts ?? 0) > 0 }
        #expect(!tried.isEmpty && tried.count <= 15, "\(tried.count) of 60 tried at the stormy site")
        #expect(tried.allSatisfy { report[$0]?.status == "deferred" && report[$0]?.smtpCode == 421 })
        #expect(stormy.filter { report[$0]?.status == "pending" }.count == 60 - tried.count)
    }

    /// `tls: required` in a domain's limits: that domain's messages never go in clear
    /// text (deferred by a server without STARTTLS), while another domain on the same
    /// server is sent as usual.
    @Test func aDomainThatRequiresTLSIsNeverSentInClearText() async throws {
        let fixture = try DeliveryEngineTests.Fixture(recipients: ["a@strict.test", "b@relaxed.test"])
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        var configuration = SalvoConfiguration()
        configuration.helo = "engine.test"
        configuration.delivery.routes = ["strict.test": .init(host: "127.0.0.1", port: sink.port),
                                         "relaxed.test": .init(host: "127.0.0.1", port: sink.port)]
        configuration.limits.domains["strict.test"] = .init(requireTLS: true)
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
        var settings = DeliveryEngine.Settings(owner: "test:tls", mx: configuration.mxSession(), retry: RetryPolicy())
        settings.mx.timeouts = .uniform(.seconds(5))
        let engine = DeliveryEngine(store: fixture.store, router: configuration.router(), renderer: CampaignRenderer(composer: composer),
                                    policy: try configuration.deliveryPolicy(), settings: settings)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        #expect(summary.sent == 1 && summary.deferred == 1, "\(summary)")
        let report = try fixture.report()
        #expect(report["b@relaxed.test"]?.status == "sent")
        #expect(report["a@strict.test"]?.status == "deferred")
        #expect(report["a@strict.test"]?.response?.contains("STARTTLS") == true, "\(report["a@strict.test"]?.response ?? "")")
        #expect(try sink.transactions().flatMap(\.rcptArgs) == ["<b@relaxed.test>"])
    }
}
