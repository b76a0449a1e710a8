@testable import Campaigns
import Foundation
import GRDB
import Synchronization
import Testing

/// A fresh store in a temporary folder, removed by the caller.
func temporaryStore() throws -> (SalvoStore, String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return (try SalvoStore(path: folder + "/test.db"), folder)
}

func writeFile(_ bytes: [UInt8], in folder: String, name: String = "list.csv") -> String {
    let path = folder + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

@Suite struct ListImportTests {
    @Test func importsGoodRowsAndNamesEveryBadOne() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var bytes = Array("Email,first_name,country\n".utf8)                     // line 1
        bytes += Array("ann@example.com,Ann,NG\n".utf8)                          // 2 good
        bytes += Array("not-an-address,Bob,GH\n".utf8)                           // 3 bad address
        bytes += Array(",Cy,KE\n".utf8)                                          // 4 empty email
        bytes += Array("dee@example.com,Dee\n".utf8)                             // 5 wrong column count
        bytes += Array("eve@example.com,E".utf8) + [0] + Array("ve,US\n".utf8)   // 6 NUL byte
        bytes += Array("fay@example.com,F".utf8) + [0xC3, 0x28] + Array(",FR\n".utf8) // 7 invalid UTF-8
        bytes += Array("gus@example.com,\"".utf8) + Array(repeating: UInt8(ascii: "g"), count: 1 << 20) + Array("\",DE\n".utf8) // 8 1 MB field
        bytes += Array("\"hal@example.com,Hal,JP\n".utf8)                        // 9 unterminated quote
        bytes += Array("ivy@Example.NET,\"Ivy, Jr.\",\"N\"\"G\"\n".utf8)         // 10 good
        bytes += Array("jo@bücher.example,Jo,DE\n".utf8)                         // 11 good (IDN)
        let path = writeFile(bytes, in: folder)
        let rejected = Mutex<[ImportReject]>([])
        var importer = ListImport(listName: "customers", path: path)
        importer.onReject = { reject in rejected.withLock { $0.append(reject) } }
        let report = try importer.run(in: store)
        let all = rejected.withLock { $0 }

        #expect(report.imported == 3)
        #expect(report.updated == 0)
        #expect(report.rejected == 7)
        #expect(all.map(\.line) == [3, 4, 5, 6, 7, 8, 9])
        #expect(all[0].reason.contains("invalid email 'not-an-address'"))
        #expect(all[1].reason == "empty email")
        #expect(all[2].reason == "expected 3 fields, found 2")
        #expect(all[3].reason.contains("NUL byte"))
        #expect(all[4].reason.contains("not valid UTF-8"))
        #expect(all[5].reason.contains("longer than"))
        #expect(all[6].reason.contains("closing quote"))

        let rows = try store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT email, salvo_domain(email) AS domain, attributes FROM recipients ORDER BY email")
        }
        #expect(rows.map { $0["email"] as String } == ["ann@example.com", "ivy@example.net", "jo@bücher.example"])
        #expect(rows[1]["attributes"] as String == #"["Ivy, Jr.","N\"G"]"#)
        #expect(rows[2]["domain"] as String == "bücher.example")
    }

    @Test func duplicatesUpdateAndMergeAttributes() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = writeFile(Array("email,name,plan\na@example.com,A,free\nb@example.com,B,free\na@example.com,A2,pro\n".utf8), in: folder)
        let report = try ListImport(listName: "l", path: first).run(in: store)
        #expect(report.summary == "imported 2, updated 1, rejected 0")

        let second = writeFile(Array("EMAIL,city\nb@example.com,Lagos\nc@example.com,Accra\n".utf8), in: folder, name: "second.csv")
        let again = try ListImport(listName: "l", path: second).run(in: store)
        #expect(again.summary == "imported 1, updated 1, rejected 0")
        let attributes = try store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT attributes FROM recipients WHERE email = 'b@example.com'")
        }
        #expect(attributes == #"["B","free","Lagos"]"#)
        #expect(try store.lists().first?.columns == ["name", "plan", "city"])
    }

    @Test func emailColumnCanBeNamed() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = writeFile(Array("Mail Address,name\nz@example.com,Z\n".utf8), in: folder)
        #expect(throws: ImportError.self) { try ListImport(listName: "l", path: path).run(in: store) }
        let report = try ListImport(listName: "l", path: path, emailColumn: "mail address").run(in: store)
        #expect(report.imported == 1)
    }

    @Test func aRowTheDatabaseRefusesIsReportedAndTheRestImported() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try store.writer.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_c BEFORE INSERT ON recipients WHEN NEW.email = 'c@example.com' BEGIN SELECT RAISE(FAIL, 'refused by trigger'); END")
        }
        let path = writeFile(Array("email,name\nb@example.com,B\nc@example.com,C\nd@example.com,D\n".utf8), in: folder)
        let report = try ListImport(listName: "l", path: path).run(in: store)
        #expect(report.summary == "imported 2, updated 0, rejected 1")
        #expect(report.rejects.first?.line == 3)
        #expect(report.rejects.first?.reason.contains("refused by trigger") == true)
    }
}
