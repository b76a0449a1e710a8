@testable import Campaigns
import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

/// The engine's batched path against a real smtp-sink: workers that take several
/// deliveries per turn, mark each `sending` while its envelope is on the wire, and swap
/// connections when one is spent, still send every recipient exactly once and record
/// every outcome.
@Suite(.serialized) struct DeliveryEngineBatchTests {
    private func engine(_ fixture: DeliveryEngineTests.Fixture, port: Int, connections: Int,
                        messagesPerConnection: Int) throws -> DeliveryEngine {
        var configuration = SalvoConfiguration()
        configuration.helo = "engine.test"
        configuration.delivery.routes = ["*": .init(host: "127.0.0.1", port: port)]
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
        var settings = DeliveryEngine.Settings(owner: "test:\(UUID().uuidString.prefix(6))", mx: configuration.mxSession())
        settings.mx.timeouts = .uniform(.seconds(5))
        settings.claimBatch = 40
        let limits = try SiteLimits(default: DeliveryLimits(connections: connections, messagesPerConnection: messagesPerConnection))
        return DeliveryEngine(store: fixture.store, router: configuration.router(), renderer: CampaignRenderer(composer: composer),
                              policy: DeliveryPolicy(limits: limits), settings: settings)
    }

    /// One message per connection swaps connections after every message; 7 makes a
    /// worker's batch of 16 outlive two connections; 1,000 never spends one.
    @Test(arguments: [1, 7, 1_000])
    func everyRecipientOnceOverSpentAndReplacedConnections(messagesPerConnection: Int) async throws {
        let emails = (0..<230).map { "r\($0)@d\($0 % 7).test" }
        let fixture = try DeliveryEngineTests.Fixture(recipients: emails)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine(fixture, port: sink.port, connections: 3, messagesPerConnection: messagesPerConnection)
            .run(campaign: start.campaignID)
        #expect(summary.sent == emails.count && summary.attempts == emails.count, "\(summary)")

        let report = try fixture.report()
        #expect(report.count == emails.count)
        #expect(report.values.allSatisfy { $0.status == "sent" && $0.attempts == 1 })
        let received = try sink.transactions().flatMap(\.rcptArgs)
        #expect(received.count == emails.count)
        #expect(Set(received) == Set(emails.map { "<\($0)>" }))
        #expect(try fixture.store.campaignState(named: fixture.campaign) == "finished")
    }

    @Test func stopHandsBackWhatWasNotMarkedAndLeavesNothingSending() async throws {
        let emails = (0..<400).map { "s\($0)@stop.test" }
        let fixture = try DeliveryEngineTests.Fixture(recipients: emails)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        // Each transaction takes a while, so the stop lands with most recipients unsent.
        let sink = try await SMTPSinkPeer.start(options: ["-w", "1"])
        defer { sink.stop() }
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let engine = try engine(fixture, port: sink.port, connections: 2, messagesPerConnection: 100)
        // Stopped once the server has begun its first transaction: the send is under way.
        let stopper = Task {
            let underWay = try await TestPeers.eventually { try sink.transactionFileCount() > 0 }
            await engine.stop()
            return underWay
        }
        let summary = try await engine.run(campaign: start.campaignID)
        #expect(try await stopper.value)
        let counts = try await fixture.store.stateCounts(campaign: start.campaignID)
        // Everything marked `sending` went out and was recorded; the rest is pending again.
        #expect(counts[.sending] == 0 && counts[.claimed] == 0 && counts[.unknown] == 0, "\(counts)")
        #expect(counts[.sent] == summary.sent)
        #expect(counts[.pending] == emails.count - summary.sent)
        #expect(summary.sent > 0 && summary.sent < emails.count, "\(summary)")
        #expect(try sink.transactions().count == summary.sent)
    }
}
