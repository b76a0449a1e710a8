import Foundation
import PostgresNIO
@testable import PostgresStore
import Testing
import TestPeers

/// The notices' calls wait out a restart of the database as the engine's do: a notice
/// marked sent while the server is away is recorded once it is back, not lost (and so not
/// sent again by the next run).
@Suite struct PostgresNoticeOutageTests {
    @Test func aNoticeMarkedSentWhileTheDatabaseIsAwayIsRecordedOnceItIsBack() async throws {
        let server = try await PostgresServer.launchPrivate()
        let database = try await server.makeDatabase()
        let store = try await PostgresDeliveryStore.connect(to: try PostgresURL(server.url(database)))
        _ = try await server.query("""
            INSERT INTO notices (key, kind, detail, created_at) VALUES ('failure-summary:test', 'failure-summary', '{}', 1)
            """, database: database)
        let claimed = try await store.claimNotices(owner: "host-a", now: Date())
        #expect(claimed.map(\.key) == ["failure-summary:test"])
        let id = try #require(claimed.first?.id)

        try await server.stop()
        let marking = Task { try await store.noticeSent(id: id, owner: "host-a", note: nil, now: Date()) }
        // The call has met the outage and waits (the deadline only a hang guard).
        #expect(try await TestPeers.eventually(within: .seconds(120), every: .milliseconds(50)) {
            store.outage.withLock { $0.isUnderway }
        })
        try await server.start()
        try await marking.value
        #expect(!store.outage.withLock { $0.isUnderway })
        #expect(try await server.query("SELECT state, claimed_by IS NULL FROM notices", database: database) == "sent|t")
        #expect(try await store.claimNotices(owner: "host-b", now: Date()).isEmpty)
        await store.shutdown()
    }
}
