import Delivery
import Foundation

/// `DeliveryStoreContract`'s fixture for `InMemoryDeliveryStore`.
public struct InMemoryStoreFixture: DeliveryStoreFixture {
    public init() {}

    public func makeStore(_ settings: ContractSettings) async throws -> InMemoryDeliveryStore {
        let today = settings.today
        return InMemoryDeliveryStore(.init(perDay: settings.perDay, maxBounceRate: settings.maxBounceRate,
                                           minimumAttempts: settings.minimumAttempts, clock: { today }))
    }

    public func secondHandle(on store: InMemoryDeliveryStore) async throws -> InMemoryDeliveryStore { store.handle() }

    public func startCampaign(recipients: [String], in store: InMemoryDeliveryStore) async throws -> Int64 {
        store.addCampaign(recipients: recipients)
    }

    public func startCampaign(recipients: [String], onList list: String, in store: InMemoryDeliveryStore) async throws -> Int64 {
        store.addCampaign(recipients: recipients, list: list)
    }

    public func suppress(_ email: String, in store: InMemoryDeliveryStore) async throws { store.suppress(email) }

    public func suppress(_ email: String, onList list: String, in store: InMemoryDeliveryStore) async throws {
        store.suppress(email, onList: list)
    }

    public func isSuppressed(_ email: String, in store: InMemoryDeliveryStore) async throws -> Bool { store.isSuppressed(email) }

    public func setControl(_ control: CampaignControl, campaign: Int64, in store: InMemoryDeliveryStore) async throws {
        store.setControl(control, campaign: campaign)
    }

    public func remove(_ store: InMemoryDeliveryStore) {}
}
