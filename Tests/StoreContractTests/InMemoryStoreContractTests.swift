import Delivery
import StoreContract
import Testing

/// The in-memory store keeps every rule of the contract (so engine tests on it see what
/// they would see on SQLite).
@Suite struct InMemoryStoreContractTests {
    @Test(arguments: DeliveryStoreContract<InMemoryStoreFixture>.Rule.allCases)
    func keeps(_ rule: DeliveryStoreContract<InMemoryStoreFixture>.Rule) async throws {
        try await DeliveryStoreContract(InMemoryStoreFixture()).check(rule)
    }
}
