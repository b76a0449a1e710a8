@testable import Delivery
import Foundation
import PostgresNIO
import PostgresStore
import SMTP
import StoreContract
import Testing
import TestPeers

/// One whole pass of the engine on PostgreSQL against Postfix's smtp-sink: the store has no
/// synchronous commits, so every mark and outcome goes through the committer's task.
@Suite struct PostgresEngineTests {
    @Test func aPassDeliversEveryRecipientAndRecordsEachSent() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let fixture = PostgresStoreFixture()
        let store = try await fixture.makeStore(ContractSettings(today: Date()))
        defer { fixture.remove(store) }
        let recipients = (1...60).map { "r\($0)@d\($0 % 4).test" }
        let campaign = try await fixture.startCampaign(recipients: recipients, in: store)
        #expect(!(store is any SynchronousCommits))

        let router = Router(routes: ["*": .init(host: "127.0.0.1", port: sink.port)],
                            resolver: DNSResolver(server: ("127.0.0.1", 9), timeout: 1, attempts: 1))
        let settings = DeliveryEngine.Settings(owner: "test:postgres", mx: SMTPConfiguration(heloName: "salvo.test", tls: .none))
        let engine = DeliveryEngine(store: store, router: router, renderer: PlainMessageRenderer(),
                                    policy: DeliveryPolicy(limits: try SiteLimits(presets: [:])), settings: settings)
        let summary = try await engine.run(campaign: campaign)

        #expect(summary.sent == recipients.count)
        #expect(try await store.stateCounts(campaign: campaign).byState == [.sent: recipients.count])
        let attempts = try await store.client.query("""
            SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
            WHERE d.campaign_id = \(campaign) AND a.outcome = 'sent'
            """).decode(Int64.self).collected()
        #expect(attempts == [Int64(recipients.count)])
        #expect(try sink.transactions().count == recipients.count)
    }
}
