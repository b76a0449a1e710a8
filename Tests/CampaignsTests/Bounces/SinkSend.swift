@testable import Campaigns
import Delivery
import Foundation
import TestPeers

extension DeliveryFixture {
    /// Sends the fixture's campaign with `composer` through the real engine and SMTP
    /// client to whatever `configuration`'s routes name (smtp-sink on loopback in the
    /// tests): the messages a receiving server sees, and deliveries left `sent`.
    func send(configuration: SalvoConfiguration, composer: MessageComposer, verp: VERPAddress? = nil,
              owner: String) async throws -> DeliveryEngine.Summary {
        let start = try store.startCampaign(named: campaign)
        var settings = DeliveryEngine.Settings(owner: owner, mx: configuration.mxSession(), retry: configuration.retryPolicy())
        settings.mx.timeouts = .uniform(.seconds(5))
        let engine = DeliveryEngine(store: store, router: configuration.router(),
                                    renderer: CampaignRenderer(composer: composer, verp: verp),
                                    policy: try configuration.deliveryPolicy(), settings: settings)
        return try await engine.run(campaign: start.campaignID)
    }
}
