import Delivery
import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import PostgresStore
import StoreContract
import TestPeers

/// `DeliveryStoreContract`'s fixture for the PostgreSQL store: a database of its own on the
/// test process's private server (`PostgresServer`), seeded with SQL as the later commands
/// (import, campaign start, suppress, pause) will write it.
struct PostgresStoreFixture: DeliveryStoreFixture {
    /// Second handles made on each database, closed with the first.
    private let handles = NIOLockedValueBox<[String: [PostgresDeliveryStore]]>([:])

    static func url(database: String, server: PostgresServer) -> PostgresURL {
        PostgresURL(user: server.user, host: "127.0.0.1", port: server.port, database: database, sslMode: .disable)
    }

    func makeStore(_ settings: ContractSettings) async throws -> PostgresDeliveryStore {
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        let today = settings.today
        return try await PostgresDeliveryStore.connect(
            to: Self.url(database: database, server: server),
            settings: .init(perDay: settings.perDay, maxBounceRate: settings.maxBounceRate,
                            minimumAttempts: settings.minimumAttempts, clock: { today }))
    }

    func secondHandle(on store: PostgresDeliveryStore) async throws -> PostgresDeliveryStore {
        let other = try await PostgresDeliveryStore.connect(to: store.url, settings: store.settings)
        handles.withLockedValue { $0[store.url.database, default: []].append(other) }
        return other
    }

    func startCampaign(recipients: [String], in store: PostgresDeliveryStore) async throws -> Int64 {
        try await startCampaign(recipients: recipients, onList: nil, in: store)
    }

    func startCampaign(recipients: [String], onList list: String, in store: PostgresDeliveryStore) async throws -> Int64 {
        try await startCampaign(recipients: recipients, onList: Optional(list), in: store)
    }

    /// The campaign's list is `list`, or one of its own named as the campaign.
    private func startCampaign(recipients: [String], onList list: String?, in store: PostgresDeliveryStore) async throws -> Int64 {
        let name = "c\(UUID().uuidString.prefix(8).lowercased())"
        let start = Int64(DeliveryStoreContract<Self>.t0.timeIntervalSince1970)
        let client = store.client
        let listID = try await client.query("""
            INSERT INTO lists (name, created_at) VALUES (\(list ?? name), \(start))
            ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id
            """).decode(Int64.self).collected()[0]
        let campaign = try await client.query("""
            INSERT INTO campaigns (name, list_id, state, created_at, started_at)
            VALUES (\(name), \(listID), 'running', \(start), \(start)) RETURNING id
            """).decode(Int64.self).collected()[0]
        for email in recipients {
            let domain = String(email.split(separator: "@").last ?? "").lowercased()
            let attributes = try String(decoding: JSONEncoder().encode(["name": String(email.prefix { $0 != "@" })]), as: UTF8.self)
            let recipient = try await client.query("""
                INSERT INTO recipients (list_id, email, domain, attributes, created_at)
                VALUES (\(listID), \(email), \(domain), \(attributes)::jsonb, \(start))
                ON CONFLICT (list_id, email) DO UPDATE SET email = excluded.email RETURNING id
                """).decode(Int64.self).collected()[0]
            try await client.query("""
                INSERT INTO deliveries (campaign_id, recipient_id, email, domain)
                VALUES (\(campaign), \(recipient), \(email), \(domain))
                """)
        }
        return campaign
    }

    func suppress(_ email: String, in store: PostgresDeliveryStore) async throws {
        try await store.client.query("""
            INSERT INTO suppressions (email, reason, created_at) VALUES (lower(\(email)), 'manual', 0) ON CONFLICT DO NOTHING
            """)
    }

    func suppress(_ email: String, onList list: String, in store: PostgresDeliveryStore) async throws {
        try await store.client.query("""
            INSERT INTO list_suppressions (list_id, email, reason, created_at)
            SELECT id, lower(\(email)), 'unsubscribe', 0 FROM lists WHERE name = \(list)
            ON CONFLICT DO NOTHING
            """)
    }

    func isSuppressed(_ email: String, in store: PostgresDeliveryStore) async throws -> Bool {
        try await store.client.query("SELECT count(*) FROM suppressions WHERE email = lower(\(email))")
            .decode(Int64.self).collected()[0] > 0
    }

    /// What `salvo pause`, `resume` and `cancel` do on SQLite: a cancel takes back every
    /// delivery not on a connection yet, claims included.
    func setControl(_ control: CampaignControl, campaign: Int64, in store: PostgresDeliveryStore) async throws {
        switch control {
        case .paused:
            try await store.client.query("UPDATE campaigns SET state = 'paused' WHERE id = \(campaign) AND state = 'running'")
        case .running:
            try await store.client.query("UPDATE campaigns SET state = 'running' WHERE id = \(campaign) AND state = 'paused'")
        case .cancelled:
            try await store.client.withTransaction(logger: Logger(label: "salvo.test")) { connection in
                try await connection.query("UPDATE campaigns SET state = 'cancelled' WHERE id = \(campaign)", logger: Logger(label: "salvo.test"))
                try await connection.query("""
                    UPDATE deliveries SET state = 'cancelled', claimed_by = NULL, claimed_at = NULL
                    WHERE campaign_id = \(campaign) AND state IN ('pending', 'deferred', 'claimed')
                    """, logger: Logger(label: "salvo.test"))
            }
        default:
            throw PeerError("the contract does not set a campaign \(control)")
        }
    }

    func remove(_ store: PostgresDeliveryStore) {
        let others = handles.withLockedValue { $0.removeValue(forKey: store.url.database) ?? [] }
        for other in others { other.close() }
        store.close()
        // `makeStore` started the server (`shared()`); `remove` cannot await it again.
        PostgresServer.started?.dropDatabase(store.url.database)
    }
}
