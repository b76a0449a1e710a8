import Foundation
import TestPeers
import Testing

@Suite struct ListsCommandTests {
    /// A Mailchimp-style export through the binary: the mapping is named, case variants
    /// are merged and said so, and `{{first_name}}` is what the list has.
    @Test func importMapsExportHeadersAndMergesCaseVariants() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = "Email Address,First Name,Member Rating,Last Changed\n"
            + "UPPER.Case@Example.COM,Ann,4,2026-11-01\n"
            + "upper.case@example.com,Annie,5,2026-11-02\n"
            + "bo@example.com,Bo,3,2026-11-03\n"
        try csv.write(toFile: dir + "/export.csv", atomically: true, encoding: .utf8)
        let result = try await SalvoBinary.run(["import", "l", "export.csv", "--db", "t.db", "--map", "Member Rating=rating"], in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            column 'Email Address' holds the addresses
            column 'First Name' imported as first_name
            column 'Member Rating' imported as rating (--map)
            column 'Last Changed' imported as last_changed
            imported 2, updated 1, rejected 0
            merged 1 row whose address differs only in case from one already in the list or earlier in the file (the first spelling is kept)

            """)
        let lists = try await SalvoBinary.run(["lists", "--db", "t.db"], in: dir)
        let row = lists.stdout.split(separator: "\n").last.map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(row == "l 2 first_name, rating, last_changed", "\(lists.stdout)")
        let count = try await SalvoBinary.run(["segment", "count", "l", #"first_name == "Annie" and email == "UPPER.Case@example.com""#, "--db", "t.db"], in: dir)
        #expect(count.stdout == "1\n", "\(count.stderr)")
        let spaced = try await SalvoBinary.run(["segment", "count", "l", "`First Name` exists", "--db", "t.db"], in: dir)
        #expect(spaced.status != 0)
        #expect(spaced.stderr.contains("the import stores a column 'First Name' as first_name; write first_name"), "\(spaced.stderr)")
    }

    /// `--rejects` naming the input (by any name) is refused before anything is written:
    /// the input keeps every byte and no database is created.
    @Test func rejectsOntoTheInputIsRefusedAndTheInputIsIntact() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = "email,name\na@example.com,A\nbad,B\n"
        try csv.write(toFile: dir + "/f.csv", atomically: true, encoding: .utf8)
        try FileManager.default.linkItem(atPath: dir + "/f.csv", toPath: dir + "/link.csv")
        for rejects in ["f.csv", "./f.csv", "link.csv", dir + "/f.csv"] {
            let result = try await SalvoBinary.run(["import", "l", "f.csv", "--db", "t.db", "--rejects", rejects], in: dir)
            #expect(result.status == 1, "\(rejects): \(result.stdout)")
            #expect(result.stderr.contains("\(rejects) is the file being imported"), "\(result.stderr)")
            #expect(try String(contentsOfFile: dir + "/f.csv", encoding: .utf8) == csv)
            #expect(!FileManager.default.fileExists(atPath: dir + "/t.db"))
        }
        let dbAsRejects = try await SalvoBinary.run(["import", "l", "f.csv", "--db", "t.db", "--rejects", "t.db"], in: dir)
        #expect(dbAsRejects.status == 1)
        #expect(dbAsRejects.stderr.contains("t.db is the database"), "\(dbAsRejects.stderr)")
        let fine = try await SalvoBinary.run(["import", "l", "f.csv", "--db", "t.db", "--rejects", "r.csv"], in: dir)
        #expect(fine.status == 0, "\(fine.stderr)")
        #expect(try String(contentsOfFile: dir + "/r.csv", encoding: .utf8).hasPrefix("line,email,reason\r\n3,bad,"))
    }

    /// A command that only reads, run where there is no database, says so and creates
    /// nothing (no file, no folder for a mistyped --db).
    @Test func readingCommandsNeverCreateADatabase() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for arguments in [["status", "welcome"], ["lists"], ["report", "welcome", "--json"], ["segment", "count", "l", "email exists"],
                          ["lists", "export", "l", "--csv", "-"], ["status", "welcome", "--db", "typo/dir/salvo.db"]] {
            let result = try await SalvoBinary.run(arguments, in: dir)
            #expect(result.status == 1, "\(arguments)")
            let db = arguments.contains("--db") ? "typo/dir/salvo.db" : "salvo.db"
            #expect(result.stderr.contains("no database at \(db): run salvo init, or pass --db"), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [])
        // init creates it, owner-only.
        #expect(try await SalvoBinary.run(["init"], in: dir).status == 0)
        var info = stat()
        #expect(stat(dir + "/salvo.db", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try await SalvoBinary.run(["lists"], in: dir).stdout.hasPrefix("no lists yet"))
    }

    @Test func renameExportRemoveAndDelete() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "email,plan\nann@example.com,pro\nbob@example.com,free\ncy@example.com,pro\n".write(toFile: dir + "/l.csv", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "customers", "l.csv", "--db", "t.db"], in: dir).status == 0)

        let renamed = try await SalvoBinary.run(["lists", "rename", "customers", "clients", "--db", "t.db"], in: dir)
        #expect(renamed.stdout == "list 'customers' renamed to 'clients'\n", "\(renamed.stderr)")

        let removed = try await SalvoBinary.run(["recipients", "remove", "clients", "BOB@example.com", "zed@example.com", "--db", "t.db"], in: dir)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout == "removed 1 of 2 addresses from list 'clients'\n")
        #expect(removed.stderr == "zed@example.com is not in list 'clients'\n")

        let exported = try await SalvoBinary.run(["lists", "export", "clients", "--segment", #"plan == "pro""#, "--csv", "pro.csv", "--db", "t.db"], in: dir)
        #expect(exported.stdout == "wrote 2 recipients to pro.csv\n", "\(exported.stderr)")
        #expect(try String(contentsOfFile: dir + "/pro.csv", encoding: .utf8) == "email,plan\r\nann@example.com,pro\r\ncy@example.com,pro\r\n")
        let toStdout = try await SalvoBinary.run(["lists", "export", "clients", "--csv", "-", "--db", "t.db"], in: dir)
        #expect(toStdout.stdout == "email,plan\r\nann@example.com,pro\r\ncy@example.com,pro\r\n")
        let ontoDatabase = try await SalvoBinary.run(["lists", "export", "clients", "--csv", "t.db", "--db", "t.db"], in: dir)
        #expect(ontoDatabase.status == 1 && ontoDatabase.stderr.contains("t.db is the database"), "\(ontoDatabase.stderr)")
        #expect(try await SalvoBinary.run(["import", "again", "pro.csv", "--db", "t.db"], in: dir).stdout == "imported 2, updated 0, rejected 0\n")

        let deleted = try await SalvoBinary.run(["lists", "delete", "clients", "--db", "t.db"], in: dir)
        #expect(deleted.stdout == "list 'clients' deleted with its 2 recipients\n", "\(deleted.stderr)")
        let lists = try await SalvoBinary.run(["lists", "show", "--db", "t.db"], in: dir)
        #expect(lists.stdout.contains("again") && !lists.stdout.contains("clients"))
    }

    /// A campaign that may still send keeps its list: delete is refused, naming the
    /// campaign and what to do.
    @Test func deleteIsRefusedWhileACampaignUsesTheList() async throws {
        let dir = try await SalvoBinary.initProject()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        let created = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try await SalvoBinary.run(["schedule", "welcome", "--at", "2099-01-01T09:00:00Z"], in: dir).status == 0)
        let refused = try await SalvoBinary.run(["lists", "delete", "customers"], in: dir)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("list 'customers' is used by campaign 'welcome' (scheduled): it can be deleted once every campaign that used it is finished or cancelled (`salvo campaign delete` removes a draft or scheduled one)"), "\(refused.stderr)")
        #expect(try await SalvoBinary.run(["segment", "count", "customers", "email exists"], in: dir).stdout == "6\n")
    }

    /// Once its campaign has finished, the list goes; the campaign's report is as it was.
    @Test func aListWhoseCampaignFinishedIsDeletedAndTheReportStays() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await SalvoBinary.campaignProject(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir)
        #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
        #expect(try await SalvoBinary.run(["status", "welcome"], in: dir).stdout.hasPrefix("campaign welcome: finished"))
        let before = try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir).stdout
        #expect(before.split(separator: "\r\n").count == 1 + (try sink.transactions().flatMap(\.rcptArgs).count), "\(before)")

        let deleted = try await SalvoBinary.run(["lists", "delete", "customers"], in: dir)
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(deleted.stdout == "list 'customers' deleted with its 6 recipients\nthe recipients campaign 'welcome' mailed are kept for its report\n")
        #expect(try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir).stdout == before)
        #expect(!(try await SalvoBinary.run(["lists"], in: dir).stdout.contains("customers")))
        #expect(try await SalvoBinary.run(["campaign", "list"], in: dir).stdout.contains("list customers (deleted "))
        let gone = try await SalvoBinary.run(["segment", "count", "customers", "email exists"], in: dir)
        #expect(gone.status == 1 && gone.stderr.contains("customers"), "\(gone.stdout)\(gone.stderr)")
    }

    /// Deep nesting is an error with a place, never a crash.
    @Test func deepSegmentIsAnError() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "email,a\nx@example.com,1\n".write(toFile: dir + "/l.csv", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "l", "l.csv", "--db", "t.db"], in: dir).status == 0)
        let deep = String(repeating: "(", count: 20_000) + "a == 1" + String(repeating: ")", count: 20_000)
        let result = try await SalvoBinary.run(["segment", "count", "l", deep, "--db", "t.db"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("segment, column 21: nested more than 20 levels deep"), "\(result.stderr.prefix(300))")
    }
}
