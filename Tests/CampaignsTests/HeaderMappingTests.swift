@testable import Campaigns
import Foundation
import GRDB
import Testing

@Suite struct HeaderMappingTests {
    /// The headers of a Mailchimp audience export: the address and the names are found,
    /// every column that changed is named, and the stored fields are plain names.
    @Test func mailchimpExportHeadersAreMapped() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let csv = "Email Address,First Name,Last Name,Phone Number,Favourite Colour,MEMBER_RATING,TAGS\n"
            + "ann@example.com,Ann,Lee,+234 1,blue,4,\"food,new\"\n"
        let path = writeFile(Array(csv.utf8), in: folder)
        let report = try ListImport(listName: "l", path: path).run(in: store)
        #expect(report.summary == "imported 1, updated 0, rejected 0")
        #expect(report.columns.map { "\($0.header)=\($0.field)" }
                == ["Email Address=email", "First Name=first_name", "Last Name=last_name", "Phone Number=phone",
                    "Favourite Colour=favourite_colour", "TAGS=tags"])
        #expect(try store.lists().first?.columns == ["first_name", "last_name", "phone", "favourite_colour", "MEMBER_RATING", "tags"])
        let ann = try #require(try store.recipient(list: "l", email: "ann@example.com"))
        #expect(ann.attributes["first_name"] == "Ann")
        #expect(ann.attributes["favourite_colour"] == "blue")
        #expect(try store.count(list: "l", segment: #"first_name == "Ann" and tags contains "food""#) == 1)
    }

    @Test(arguments: [
        ("E-mail", "email"), ("Email", "email"), ("EMAIL", "email"), ("email_address", "email"), ("Contact Email", "email"),
        ("FIRSTNAME", "first_name"), ("FNAME", "first_name"), ("Given Name", "first_name"), ("Surname", "last_name"),
        ("Mobile Phone", "phone"), ("Zip Code", "postal_code"), ("State / Region", "region"), ("Company Name", "company"),
    ])
    func knownHeaders(header: String, field: String) throws {
        let headers = field == "email" ? [header, "x"] : ["email", header]
        let mapping = try HeaderMapping.map(headers: headers, path: "f.csv")
        let column = mapping.columns.first { $0.header == header }
        #expect(column?.field == field)
        #expect(mapping.columns[mapping.emailIndex].field == "email")
    }

    @Test func explicitMappingsWinAndAreChecked() throws {
        let mapping = try HeaderMapping.map(headers: ["E-Mail-Adresse", "Vorname", "First Name"],
                                            explicit: [("e-mail-adresse", "email"), ("Vorname", "first_name"), ("First Name", "english_name")],
                                            path: "f.csv")
        #expect(mapping.emailIndex == 0)
        #expect(mapping.columns.map(\.field) == ["email", "first_name", "english_name"])
        #expect(mapping.columns.map(\.reason) == [.mapped, .mapped, .mapped])

        #expect(throws: ImportError.self) { try HeaderMapping.map(headers: ["email", "a"], explicit: [("b", "x")], path: "f.csv") }
        #expect(throws: ImportError.self) { try HeaderMapping.map(headers: ["email", "a"], explicit: [("a", "has space")], path: "f.csv") }
        do {
            _ = try HeaderMapping.map(headers: ["email", "First Name", "first_name"], path: "f.csv")
            Issue.record("two columns became first_name")
        } catch {
            #expect(error.description == "f.csv:1: columns 2 ('First Name') and 3 ('first_name') would both be imported as first_name; map one elsewhere with --map 'first_name=NAME'")
        }
    }

    /// A list imported before keeps its columns: a header it already has stays as it is.
    @Test func anExistingColumnKeepsItsName() throws {
        let mapping = try HeaderMapping.map(headers: ["email", "First Name", "Country"], existing: ["First Name", "Country"], path: "f.csv")
        #expect(mapping.columns.map(\.field) == ["email", "First Name", "Country"])
        #expect(mapping.renamed.isEmpty)
    }

    /// The header is handled in linear time: 200,000 columns import (the reader thread
    /// does the work; the wait is only a hang guard).
    @Test func aHeaderOf200000ColumnsIsImported() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let width = 200_000
        var header = "email"
        var row = "wide@example.com"
        header.reserveCapacity(width * 8)
        row.reserveCapacity(width * 3)
        for i in 0..<width {
            header += i % 2 == 0 ? ",c\(i)" : ",Column \(i)"
            row += ",\(i % 10)"
        }
        let path = writeFile(Array((header + "\n" + row + "\n").utf8), in: folder)
        nonisolated(unsafe) var outcome: Result<ImportReport, Error>?
        let done = DispatchSemaphore(value: 0)
        Thread {
            outcome = Result { try ListImport(listName: "wide", path: path).run(in: store) }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 300) == .success, "the import of a 200,000-column header did not finish")
        let report = try #require(try outcome?.get())
        #expect(report.imported == 1)
        #expect(report.columns.count == width / 2)
        let columns = try #require(try store.lists().first?.columns)
        #expect(columns.count == width)
        #expect(columns[1] == "column_1")
        let wide = try #require(try store.recipient(list: "wide", email: "wide@example.com"))
        #expect(wide.attributes["c199998"] == "8")
        #expect(wide.attributes["column_199999"] == "9")
    }
}

@Suite struct CaseInsensitiveAddressTests {
    @Test func caseVariantsAreOneRecipientUnderTheFirstSpelling() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Lower case sorts after upper case: the later spelling here is the one a sort by
        // address bytes would put first, and still the first one in the file is kept.
        let first = writeFile(Array("email,plan\nupper.CASE@Example.COM,free\nUPPER.case@example.com,pro\nMixed@example.com,a\n".utf8), in: folder)
        let report = try ListImport(listName: "l", path: first).run(in: store)
        #expect(report.summary == "imported 2, updated 1, rejected 0")
        #expect(report.merged == 1)

        let second = writeFile(Array("email,plan\nUpper.CASE@example.com,team\nmixed@EXAMPLE.com,b\nnew@example.com,c\n".utf8), in: folder, name: "b.csv")
        let again = try ListImport(listName: "l", path: second).run(in: store)
        #expect(again.summary == "imported 1, updated 2, rejected 0")
        #expect(again.merged == 2)

        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT email, attributes FROM recipients ORDER BY address_key").map { "\($0["email"] as String) \($0["attributes"] as String)" }
        }
        #expect(rows == [#"Mixed@example.com ["b"]"#, #"new@example.com ["c"]"#, #"upper.CASE@example.com ["team"]"#])
        #expect(try store.recipient(list: "l", email: "UPPER.case@EXAMPLE.com")?.email == "upper.CASE@example.com")
    }

    /// A database from before: case variants merged into the first spelling, a variant
    /// a campaign delivered to kept as history and out of every selection.
    @Test func theMigrationMergesExistingVariants() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/old.db"
        do {
            let old = try DatabaseQueue(path: path)
            try SalvoStore.migrator.migrate(old, upTo: "v5: send log")
            try old.write { db in
                try db.execute(sql: """
                    INSERT INTO lists (id, name, columns, created_at) VALUES (1, 'l', '["plan","city"]', 0);
                    INSERT INTO recipients (id, list_id, email, attributes, created_at, updated_at) VALUES
                        (1, 1, 'Ann@example.com', '["free","Lagos"]', 0, 0),
                        (2, 1, 'ann@example.com', '["pro",null]', 0, 5),
                        (3, 1, 'ANN@example.com', '[null,"Accra"]', 0, 7),
                        (4, 1, 'bob@example.com', '["free",null]', 0, 0),
                        (5, 1, 'BOB@example.com', '["team",null]', 0, 0);
                    INSERT INTO campaigns (id, name, list_id, definition, source_path, state, created_at) VALUES (1, 'c', 1, '{}', 'c.yml', 'finished', 0);
                    INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state) VALUES (1, 4, 'bob@example.com', 'example.com', 'sent'),
                        (1, 5, 'BOB@example.com', 'example.com', 'sent');
                    """)
            }
        }
        let store = try SalvoStore(path: path)
        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, email, address_key, attributes, updated_at FROM recipients ORDER BY id").map {
                "\($0["id"] as Int64) \($0["email"] as String) \(($0["address_key"] as String?) ?? "NULL") \($0["attributes"] as String) \($0["updated_at"] as Int64)"
            }
        }
        #expect(rows == [#"1 Ann@example.com ann@example.com ["pro","Accra"] 7"#,
                         #"4 bob@example.com bob@example.com ["team",null] 0"#,
                         #"5 BOB@example.com NULL ["team",null] 0"#])
        #expect(try store.count(list: "l", segment: nil) == 2)
        #expect(try store.lists().first?.recipients == 2)
        // The campaign's history is whole.
        #expect(try store.deliveryReport(campaign: "c").map(\.email) == ["bob@example.com", "BOB@example.com"])
        // And a new import meets the kept spelling.
        let csv = writeFile(Array("email,plan\nBob@Example.com,x\n".utf8), in: folder)
        let report = try ListImport(listName: "l", path: csv).run(in: store)
        #expect(report.summary == "imported 0, updated 1, rejected 0")
    }
}
