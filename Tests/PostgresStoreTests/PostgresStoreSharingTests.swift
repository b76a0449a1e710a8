import Delivery
import Foundation
import PostgresNIO
@testable import PostgresStore
import StoreContract
import Testing
import TestPeers

/// What several hosts on one database need beyond the contract: claims that never overlap,
/// migrations that do not race, and a clear word when the server is not there.
@Suite struct PostgresStoreSharingTests {
    let fixture = PostgresStoreFixture()

    @Test func twoHandlesClaimingOneCampaignAtOnceNeverGetTheSameDelivery() async throws {
        let store = try await fixture.makeStore(ContractSettings(today: DeliveryStoreContract<PostgresStoreFixture>.t0))
        defer { fixture.remove(store) }
        let other = try await fixture.secondHandle(on: store)
        let recipients = (1...400).map { "r\($0)@d\($0 % 7).test" }
        let campaign = try await fixture.startCampaign(recipients: recipients, in: store)
        let now = DeliveryStoreContract<PostgresStoreFixture>.t0
        // Each handle claims in small batches until nothing is left, both at once.
        func drain(_ handle: PostgresDeliveryStore, owner: String) async throws -> [Int64] {
            var taken: [Int64] = []
            while true {
                let batch = try await handle.claimDue(campaign: campaign, now: now, limit: 7, owner: owner, excludingDomains: [])
                if batch.isEmpty { return taken }
                taken += batch.map(\.id)
            }
        }
        async let first = drain(store, owner: "host-a")
        async let second = drain(other, owner: "host-b")
        let (a, b) = try await (first, second)
        #expect(Set(a).isDisjoint(with: b))
        #expect(a.count + b.count == recipients.count)
        #expect(Set(a + b).count == recipients.count)
        #expect(try await store.stateCounts(campaign: campaign).byState == [.claimed: recipients.count])
    }

    @Test func twoStoresMigratingOneEmptyDatabaseAtOnceBothSucceedWithOneSchema() async throws {
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let url = PostgresStoreFixture.url(database: database, server: server)
        async let first = PostgresDeliveryStore.connect(to: url)
        async let second = PostgresDeliveryStore.connect(to: url)
        let (a, b) = try await (first, second)
        defer { a.close(); b.close() }
        let versions = try await a.client.query("SELECT version FROM schema_migrations ORDER BY version")
            .decode(Int64.self).collected()
        #expect(versions == PostgresMigrations.all.map { Int64($0.version) })
        let tables = try await b.client.query("""
            SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'deliveries'
            """).decode(Int64.self).collected()
        #expect(tables == [1])
    }

    @Test func anUnreachableServerGivesOneErrorNamingHostAndPort() async throws {
        let port = try TestPeers.freePort()
        let url = PostgresURL(user: "salvo", host: "127.0.0.1", port: port, database: "salvo", sslMode: .disable)
        let error = await #expect(throws: PostgresStoreError.self) { try await PostgresDeliveryStore.connect(to: url) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("PostgreSQL at 127.0.0.1:\(port)/salvo: connect: "), "\(text)")
        #expect(text.lowercased().contains("refused"), "\(text)")
        #expect(!text.contains("\n"), "\(text)")
    }
}
