@testable import Campaigns
import Foundation
import GRDB
import Testing

/// `v7-list-suppression` on a database an older Salvo wrote: what was suppressed stays
/// suppressed, globally, and says so.
@Suite struct ListSuppressionMigrationTests {
    @Test func anOlderDatabaseKeepsItsSuppressionsGlobalAndLabelsItsSuppressedDeliveries() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("v7-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/salvo.db"
        var configuration = Configuration()
        configuration.prepareDatabase { db in db.add(function: RecipientKey.function) }
        do {
            // The schema just before v7, with an unsubscribe recorded the old way (global).
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try SalvoStore.migrator.migrate(queue, upTo: "v6-lists: one recipient per address ignoring case")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO lists (id, name, created_at) VALUES (1, 'customers', 0);
                    INSERT INTO recipients (id, list_id, email, created_at, updated_at, address_key) VALUES (1, 1, 'Ann@example.org', 0, 0, 'ann@example.org');
                    INSERT INTO campaigns (id, name, list_id, definition, source_path, state, created_at) VALUES (1, 'old', 1, '{}', 'old.yml', 'finished', 0);
                    INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state) VALUES (1, 1, 'Ann@example.org', 'example.org', 'suppressed');
                    INSERT INTO suppressions (email, reason, detail, created_at) VALUES ('Ann@example.org', 'unsubscribe', 'campaign old (one-click)', 0);
                    """)
            }
        }
        let store = try SalvoStore(path: path)
        #expect(try store.suppressionScope(of: "ann@example.org", list: "customers") == .global)
        #expect(try store.listSuppressions().isEmpty)
        #expect(try store.deliveryReport(campaign: "old").map(\.suppressedBy) == ["global"])
        #expect(try store.suppressionCounts(campaign: "old") == [.global: 1])
        // The preferences page finds the address on its list through the new index.
        let indexes = try store.writer.read { db in try db.indexes(on: "recipients").map(\.name) }
        #expect(indexes.contains("recipients_by_address_key"))
    }

    /// The undo of a list unsubscribe lifts that list's suppression only: an "unsubscribe
    /// from everything" made meanwhile stands.
    @Test func anUndoLeavesAGlobalUnsubscribe() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("v7-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try SalvoStore(path: folder + "/salvo.db")
        try "email\nann@example.org\n".write(toFile: folder + "/l.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: "customers", path: folder + "/l.csv").run(in: store)
        try "Hi\n".write(toFile: folder + "/t.txt.mustache", atomically: true, encoding: .utf8)
        try store.createCampaign(CampaignDefinition(name: "spring", list: "customers", segment: nil, from: "news@shop.example",
                                                    subject: "Hi", text: folder + "/t.txt.mustache"), sourcePath: folder + "/spring.yml")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await store.recordUnsubscribe(email: "ann@example.org", campaign: "spring", channel: .oneClick, now: now) == .unsubscribed)
        #expect(try store.suppressionScope(of: "ann@example.org", list: "customers") == .list)
        #expect(try await store.changePreferences(email: "ann@example.org", campaign: "spring", .unsubscribeFromEverything, now: now) == .changed)
        #expect(try await store.resubscribe(email: "ann@example.org", campaign: "spring", window: 900, now: now) == .resubscribed)
        #expect(try store.listSuppressions().isEmpty)
        #expect(try store.suppressions().map(\.reason) == ["unsubscribe"])
        #expect(try store.suppressionScope(of: "ann@example.org", list: "customers") == .global)
    }
}
