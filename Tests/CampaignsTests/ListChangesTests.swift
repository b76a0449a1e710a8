@testable import Campaigns
import Foundation
import GRDB
import Testing

@Suite struct ListChangesTests {
    private func campaign(_ name: String, state: String, list: String, in store: SalvoStore) throws {
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT INTO campaigns (name, list_id, definition, source_path, state, created_at)
                VALUES (?, (SELECT id FROM lists WHERE name = ?), '{}', 'c.yml', ?, 0)
                """, arguments: [name, list, state])
        }
    }

    @Test func deleteIsRefusedWhileACampaignMayStillSendAndNamesOnlyThoseCampaigns() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = writeFile(Array("email\na@example.com\nb@example.com\n".utf8), in: folder)
        _ = try ListImport(listName: "used", path: path).run(in: store)
        _ = try ListImport(listName: "free", path: path).run(in: store)
        try campaign("done", state: "finished", list: "used", in: store)
        try campaign("flash", state: "scheduled", list: "used", in: store)
        try campaign("idea", state: "draft", list: "used", in: store)
        try campaign("live", state: "paused", list: "used", in: store)
        do {
            try store.deleteList(named: "used")
            Issue.record("a used list was deleted")
        } catch let error as ListInUseError {
            #expect(error.description == "list 'used' is used by campaign 'live' (paused), 'flash' (scheduled), 'idea' (draft): it can be deleted once every campaign that used it is finished or cancelled (`salvo campaign delete` removes a draft or scheduled one; `salvo cancel` ends a running or paused one, or let it finish)")
        }
        #expect(try store.count(list: "used", segment: nil) == 2)

        #expect(try store.deleteList(named: "free") == ListDeletion(recipients: 2))
        #expect(try store.lists().map(\.name) == ["used"])
        let left = try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM recipients") }
        #expect(left == 2)
        #expect(throws: StoreError.listNotFound("free")) { try store.deleteList(named: "free") }
    }

    /// Once every campaign that used it is finished or cancelled the list goes; the
    /// recipients those campaigns' deliveries point at stay for their reports.
    @Test func aListWhoseCampaignsAreAllOverIsDeletedKeepingWhatTheirReportsNeed() async throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = writeFile(Array("email\na@example.com\nb@example.com\nc@example.com\n".utf8), in: folder)
        _ = try ListImport(listName: "old", path: path).run(in: store)
        try campaign("done", state: "finished", list: "old", in: store)
        try campaign("stopped", state: "cancelled", list: "old", in: store)
        try await store.writer.write { db in
            try db.execute(sql: """
                INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state, last_code)
                SELECT c.id, r.id, r.email, 'example.com', 'sent', 250 FROM campaigns c, recipients r
                WHERE c.name = 'done' AND r.email = 'a@example.com'
                """)
        }
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try store.deleteList(named: "old", now: at) == ListDeletion(recipients: 3, keptFor: ["done", "stopped"]))
        #expect(try store.lists().isEmpty)
        #expect(throws: StoreError.listNotFound("old")) { try store.count(list: "old", segment: nil) }
        let kept = try await store.writer.read { db in try String.fetchAll(db, sql: "SELECT email FROM recipients") }
        #expect(kept == ["a@example.com"])
        let report = try store.deliveryReport(campaign: "done")
        #expect(report.map(\.email) == ["a@example.com"] && report.first?.status == "sent")
        #expect(try store.campaigns().map(\.list) == ["old (deleted 2027-01-15T08:00:00Z)", "old (deleted 2027-01-15T08:00:00Z)"])
        // The pages its mail links to name the list as the recipient knew it.
        #expect(try await store.listName(ofCampaign: "done") == "old")

        // The name is free: a new import is a new, empty list of that name.
        _ = try ListImport(listName: "old", path: path).run(in: store)
        #expect(try store.count(list: "old", segment: nil) == 3)
        #expect(try store.deleteList(named: "old") == ListDeletion(recipients: 3))
    }

    @Test func renameKeepsRecipientsAndCampaigns() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = writeFile(Array("email\na@example.com\n".utf8), in: folder)
        _ = try ListImport(listName: "old", path: path).run(in: store)
        _ = try ListImport(listName: "other", path: path).run(in: store)
        try campaign("c", state: "draft", list: "old", in: store)
        try store.renameList("old", to: "new")
        #expect(try store.lists().map(\.name) == ["new", "other"])
        #expect(try store.count(list: "new", segment: nil) == 1)
        let campaignList = try store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT l.name FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.name = 'c'")
        }
        #expect(campaignList == "new")
        #expect(throws: ListNameError(name: "other", exists: true)) { try store.renameList("new", to: "other") }
        #expect(throws: ListNameError(name: " padded")) { try store.renameList("new", to: " padded") }
        #expect(throws: StoreError.listNotFound("old")) { try store.renameList("old", to: "x") }
    }

    @Test func removeTakesEveryCaseAndKeepsWhatACampaignDeliveredTo() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = writeFile(Array("email\nAnn@example.com\nbob@example.com\ncy@example.com\n".utf8), in: folder)
        _ = try ListImport(listName: "l", path: path).run(in: store)
        try campaign("sent", state: "finished", list: "l", in: store)
        try store.writer.write { db in
            try db.execute(sql: """
                INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state)
                SELECT 1, id, email, 'example.com', 'sent' FROM recipients WHERE email = 'cy@example.com'
                """)
        }
        let removal = try store.removeRecipients(list: "l", emails: ["ANN@example.com", "nobody@example.com", "not an address", "cy@example.com"])
        #expect(removal.removed == ["ANN@example.com"])
        #expect(removal.notInList == ["nobody@example.com"])
        #expect(removal.invalid == ["not an address"])
        #expect(removal.kept.map(\.email) == ["cy@example.com"])
        #expect(removal.kept.first?.campaigns == ["sent"])
        let emails = try store.writer.read { db in try String.fetchAll(db, sql: "SELECT email FROM recipients ORDER BY id") }
        #expect(emails == ["bob@example.com", "cy@example.com"])
    }

    /// Export writes the import's own format: importing it into a new list gives the
    /// same recipients, and exporting that gives the same bytes.
    @Test func exportRoundTripsThroughImport() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let csv = "email,name,note,plan\r\n"
            + "ann@example.com,Ann,\"says \"\"hi\"\", then, leaves\",pro\r\n"
            + "bob@example.com,Bob,\"two\nlines\",free\r\n"
            + "cy@example.com,\" Cy \",,pro\r\n"
        _ = try ListImport(listName: "l", path: writeFile(Array(csv.utf8), in: folder)).run(in: store)
        _ = try ListImport(listName: "l", path: writeFile(Array("email,city\r\ndee@example.com,=1+2\r\n".utf8), in: folder, name: "b.csv")).run(in: store)

        var exported = Data()
        #expect(try store.exportCSV(list: "l", segment: nil) { exported.append($0) } == 4)
        let text = String(decoding: exported, as: UTF8.self)
        #expect(text == "email,name,note,plan,city\r\n"
            + "ann@example.com,Ann,\"says \"\"hi\"\", then, leaves\",pro,\r\n"
            + "bob@example.com,Bob,\"two\nlines\",free,\r\n"
            + "cy@example.com,\" Cy \",,pro,\r\n"
            + "dee@example.com,,,,=1+2\r\n")

        let path = folder + "/export.csv"
        try exported.write(to: URL(fileURLWithPath: path))
        let report = try ListImport(listName: "copy", path: path).run(in: store)
        #expect(report.summary == "imported 4, updated 0, rejected 0")
        var again = Data()
        try store.exportCSV(list: "copy", segment: nil) { again.append($0) }
        #expect(again == exported)
        // The same values; a column a recipient had no value in is an empty one now.
        for email in ["ann@example.com", "bob@example.com", "cy@example.com", "dee@example.com"] {
            let copied = try #require(try store.recipient(list: "copy", email: email)).attributes
            let original = try #require(try store.recipient(list: "l", email: email)).attributes
            #expect(copied.filter { !$0.value.isEmpty } == original.filter { !$0.value.isEmpty }, "\(email)")
        }

        var pro = Data()
        #expect(try store.exportCSV(list: "l", segment: #"plan == "pro""#) { pro.append($0) } == 2)
        #expect(String(decoding: pro, as: UTF8.self).split(separator: "\r\n").map { String($0.prefix(3)) } == ["ema", "ann", "cy@"])
    }
}
