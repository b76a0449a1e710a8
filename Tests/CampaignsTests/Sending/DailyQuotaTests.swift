@testable import Campaigns
import Delivery
import Foundation
import PostgresStore
import SMTP
import StoreCopy
import Testing
import TestPeers

/// The daily quota against a real smtp-sink: a send stops at the quota and says why, the
/// sender hears of it at 80% and 100% once, the same day sends nothing more, and the next
/// day (the store's clock moved, nothing slept) sends the rest. On the fixture's SQLite
/// file, and on a PostgreSQL copy of it, read back through a copy to SQLite.
@Suite(.serialized) struct DailyQuotaTests {
    @Test(arguments: [false, true])
    func stopsAtTheQuotaTellsTheSenderAndGoesOnTheNextDay(onPostgreSQL: Bool) async throws {
        let emails = (0..<50).map { "q\($0)@quota.test" }
        let fixture = try DeliveryEngineTests.Fixture(recipients: emails)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        var configuration = SalvoConfiguration()
        configuration.helo = "engine.test"
        // The campaign's mail and its notices (to its From, news@shop.test) reach the sink.
        configuration.delivery.routes = ["quota.test": .init(host: "127.0.0.1", port: sink.port),
                                         "shop.test": .init(host: "127.0.0.1", port: sink.port)]
        configuration.quota = DailyQuota(perDay: 30)
        let today = Date()
        var postgres: PostgresURL?
        var dropDatabase: @Sendable () -> Void = {}
        if onPostgreSQL {
            let server = try await PostgresServer.shared()
            let database = try await server.makeDatabase()
            dropDatabase = { server.dropDatabase(database) }
            postgres = try PostgresURL(server.url(database))
            _ = try await DatabaseCopy.copy(from: fixture.store, to: postgres!, password: nil)
        }
        defer { dropDatabase() }
        func send(on day: Date) async throws -> CampaignSender.Result {
            // --wait: a spent quota must end the pass, not wait for tomorrow.
            guard let postgres else {
                let store = try SalvoStore(path: fixture.store.path, dailyQuota: configuration.quota, clock: { day })
                return try await CampaignSender(campaign: fixture.campaign, store: store, configuration: configuration,
                                                environment: [:]).run(waitForRetries: true)
            }
            let store = try await PostgresDeliveryStore.connect(to: postgres, settings: .init(perDay: 30, clock: { day }))
            defer { store.close() }
            return try await CampaignSender(campaign: fixture.campaign, store: store, configuration: configuration,
                                            environment: [:]).run(waitForRetries: true)
        }
        /// The store as it is now: the fixture's, or the PostgreSQL database copied back.
        func stored(on day: Date) async throws -> SalvoStore {
            guard let postgres else { return try SalvoStore(path: fixture.store.path, dailyQuota: configuration.quota, clock: { day }) }
            let copied = fixture.folder + "/from-postgres-\(UUID().uuidString).db"
            _ = try await DatabaseCopy.copy(from: postgres, password: nil, toSQLite: copied)
            return try SalvoStore(path: copied, dailyQuota: configuration.quota, clock: { day })
        }
        func campaignMail() throws -> [SinkTransaction] { try sink.transactions().filter { $0.rcptArgs != ["<news@shop.test>"] } }
        func notices() throws -> [String] {
            try sink.transactions().filter { $0.rcptArgs == ["<news@shop.test>"] }.map { String(decoding: $0.message, as: UTF8.self) }
        }

        let first = try await send(on: today)
        #expect(first.summary?.sent == 30, "\(String(describing: first.summary))")
        #expect(first.summary?.heldBy?.reason == "daily quota of 30 reached; resumes tomorrow (UTC)")
        #expect(first.counts[.pending] == 20 && first.counts[.sent] == 30, "\(first.counts)")
        #expect(try campaignMail().count == 30)
        #expect(first.notices.sent.count == 2 && first.notices.warnings.isEmpty, "\(first.notices)")
        let told = try notices()
        #expect(told.count == 2)
        #expect(told.contains { $0.contains("Subject: Salvo: daily quota 80% used (") })
        #expect(told.contains { $0.contains("Subject: Salvo: daily quota of 30 reached, sending resumes ") })
        #expect(told.allSatisfy { $0.contains("Auto-Submitted: auto-generated\n") && $0.contains("From: \"Shop\" <news@shop.test>\n")
            && $0.contains("Content-Transfer-Encoding: 7bit\n") })
        // The body is prose wrapped at 72 columns: read it as one line.
        #expect(told.allSatisfy { $0.replacingOccurrences(of: "\n", with: " ").contains("Campaign \"engine-test\" has 20 recipients waiting.") })
        let day = QuotaDay.day(of: today)
        #expect(try await stored(on: today).quotaUse() == QuotaUse(day: day, used: 30, perDay: 30))

        // The same day: nothing more goes out, and the sender is not told again.
        let second = try await send(on: today)
        #expect(second.summary?.attempts == 0 && second.summary?.heldBy != nil, "\(String(describing: second.summary))")
        #expect(second.notices.sent.isEmpty)
        #expect(try campaignMail().count == 30)

        // The next UTC day the rest go, each recipient exactly once.
        let third = try await send(on: today.addingTimeInterval(86_400))
        #expect(third.summary?.sent == 20 && third.summary?.heldBy == nil, "\(String(describing: third.summary))")
        let after = try await stored(on: today)
        #expect(try after.campaignState(named: fixture.campaign) == "finished")
        let received = try campaignMail().flatMap(\.rcptArgs)
        #expect(received.count == 50 && Set(received) == Set(emails.map { "<\($0)>" }))
        // 20 of 30 is under 80%, and nothing failed: no more notices.
        #expect(third.notices.sent.isEmpty)
        #expect(try notices().count == 2)
        #expect(try after.notices().map(\.key).sorted() == ["quota-100:\(day)", "quota-80:\(day)"])
        #expect(try after.notices().allSatisfy { $0.state == .sent && $0.attempts == 1 })
    }
}
