import Delivery
import PostgresStore
import StoreContract
import Testing

/// The PostgreSQL store keeps every rule of the contract, on a real server.
@Suite struct PostgresStoreContractTests {
    @Test(arguments: DeliveryStoreContract<PostgresStoreFixture>.Rule.allCases)
    func keeps(_ rule: DeliveryStoreContract<PostgresStoreFixture>.Rule) async throws {
        try await DeliveryStoreContract(PostgresStoreFixture()).check(rule)
    }
}
