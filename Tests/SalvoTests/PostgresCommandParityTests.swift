import Foundation
import GRDB
import Testing
import TestPeers

/// The commands of README run on a PostgreSQL database as on SQLite: one project, each
/// step run once on its SQLite file and once with `--db postgres://…` on a new database of
/// the private server, and the two runs print the same lines (times aside) and exit the
/// same way, errors included. At the end, the PostgreSQL database copied back into SQLite
/// holds the same recipients, with the same spellings and values, as the project's file.
@Suite struct PostgresCommandParityTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

    /// What differs between two runs by right: the times they print, and how fast a send went.
    private static func normalised(_ text: String) -> String {
        text.replacingOccurrences(of: #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"#, with: "TIME", options: .regularExpression)
            .replacingOccurrences(of: #"in [0-9.]+ s \([0-9,]+ msg/s\)"#, with: "in SECONDS", options: .regularExpression)
    }

    @Test func everyCommandPrintsTheSameOnBothStores() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(sink.port)")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)

        // A second import meets case variants, a new column, a value emptied, bad rows, a
        // row met twice, and quoting that COPY must carry (a tab, a quote, a backslash).
        try """
            EMAIL,First Name,plan,note
            Ada.Okafor@Example.com,Ada,gold,"tab\there"
            ada.okafor@example.com,Adaeze,platinum,"say ""hi"" \\ back"
            not-an-address,X,none,
            new.person@example.org,New,,
            new.person@example.org,Newer,silver,
            NEW.PERSON@example.org,Newest,bronze,last
            short@example.org,Short
            """.write(toFile: dir + "/more.csv", atomically: true, encoding: .utf8)
        try "email,reason\nsup@example.net,complaint\nbad,\nSUP@example.net,\nx@example.net,nope\nw@example.net,unsubscribe\n"
            .write(toFile: dir + "/suppress.csv", atomically: true, encoding: .utf8)

        let bounces = TestPeers.repositoryRoot.appendingPathComponent("Tests/CampaignsTests/Fixtures/bounces").path
        let steps: [[String]] = [
            ["lists"], ["campaign", "list"], ["suppress", "list"],
            ["import", "customers", "recipients.csv"],
            ["import", "customers", "more.csv", "--map", "note=remark", "--rejects", "rejects.csv"],
            ["import", "customers", "nosuch.csv"],
            ["lists"],
            ["lists", "export", "customers", "--csv", "-"],
            ["lists", "export", "customers", "--segment", "plan == \"gold\"", "--csv", "-"],
            ["segment", "count", "customers", "tags contains \"new\" or plan exists"],
            ["segment", "count", "customers", "colour == \"red\""],
            ["segment", "count", "nolist", "plan exists"],
            ["recipients", "remove", "customers", "SHORT@example.org", "nobody@example.org", "bad"],
            ["campaign", "create", "welcome.yml"],
            ["campaign", "create", "welcome.yml"],
            ["campaign", "list"],
            ["campaign", "show", "welcome"],
            ["campaign", "update", "welcome.yml"],
            ["campaign", "clone", "welcome", "welcome-2"],
            ["campaign", "clone", "nosuch", "x"],
            ["schedule", "welcome-2", "--at", "2020-01-01T00:00:00Z"],
            ["schedule", "welcome-2", "--at", "2099-01-01T00:00:00Z"],
            ["campaign", "list", "--all"],
            ["campaign", "show", "welcome-2"],
            ["campaign", "delete", "welcome-2"],
            ["preview", "welcome", "--text"],
            ["preview", "welcome", "--recipient", "nobody@example.org"],
            ["suppress", "add", "grace.hopper@example.com", "alan@example.net"],
            ["suppress", "add", "ok@example.net", "bad@"],
            ["suppress", "add", "linus@example.org", "--list", "customers"],
            ["suppress", "add", "linus@example.org", "--list", "nolist"],
            ["suppress", "import", "suppress.csv"],
            ["suppress", "list"],
            ["suppress", "list", "--list", "customers"],
            ["suppress", "remove", "alan@example.net", "nobody@example.net"],
            ["suppress", "remove", "linus@example.org", "--list", "customers"],
            ["suppress", "add", "linus@example.org", "--list", "customers"],
            ["send", "welcome", "--dry-run"],
            ["send", "welcome"],
            ["status", "welcome"],
            // Real DSNs (about other messages: unmatched, yet dead addresses), then again,
            // then a path that is not there.
            ["bounces", "import", bounces + "/postfix.mbox"],
            ["bounces", "import", bounces + "/postfix-maildir"],
            ["bounces", "import", bounces + "/postfix.mbox"],
            ["bounces", "import", bounces + "/nosuch.mbox"],
            ["campaign", "show", "welcome"],
            ["campaign", "update", "welcome.yml"],
            ["campaign", "delete", "welcome"],
            ["campaign", "list", "--all"],
            ["lists", "rename", "customers", " spaced"],
            ["lists", "rename", "customers", "clients"],
            ["lists", "delete", "clients"],
            ["lists"],
        ]
        for step in steps {
            let sqlite = try await SalvoBinary.run(step, in: dir, environment: secret)
            let sqliteRejects = try? String(contentsOfFile: dir + "/rejects.csv", encoding: .utf8)
            let postgres = try await SalvoBinary.run(step + ["--db", url], in: dir, environment: secret)
            let postgresRejects = try? String(contentsOfFile: dir + "/rejects.csv", encoding: .utf8)
            let command = "salvo " + step.joined(separator: " ")
            #expect(postgres.status == sqlite.status, "\(command): exit \(sqlite.status) on SQLite, \(postgres.status) on PostgreSQL: \(postgres.stderr)")
            #expect(Self.normalised(postgres.stdout) == Self.normalised(sqlite.stdout),
                    "\(command) printed\n\(sqlite.stdout)\non SQLite and\n\(postgres.stdout)\non PostgreSQL")
            #expect(Self.normalised(postgres.stderr) == Self.normalised(sqlite.stderr),
                    "\(command) said\n\(sqlite.stderr)\non SQLite and\n\(postgres.stderr)\non PostgreSQL")
            #expect(postgresRejects == sqliteRejects, "\(command): the rejects files differ")
        }
        // Each store's send reached the sink: the campaign went out twice, once per store,
        // to the same recipients.
        let received = try sink.transactions().flatMap(\.rcptArgs).map { String($0.dropFirst().prefix { $0 != ">" }) }
        #expect(!received.isEmpty)
        #expect(Dictionary(grouping: received, by: { $0 }).values.allSatisfy { $0.count == 2 }, "\(received.sorted())")
        #expect(!received.contains("linus@example.org") && !received.contains("grace.hopper@example.com"))

        // The PostgreSQL database, copied back, holds what the SQLite file holds.
        let back = try await SalvoBinary.run(["db", "copy", "--from", url, "--to", "back.db"], in: dir)
        #expect(back.status == 0, "\(back.stdout) \(back.stderr)")
        for query in ["SELECT email, address_key, attributes FROM recipients ORDER BY address_key, email",
                      "SELECT name_before_deletion, columns, deleted_at IS NOT NULL FROM lists ORDER BY name_before_deletion",
                      "SELECT name, segment, definition, source_path, state, scheduled_at IS NULL, archived_at IS NULL FROM campaigns ORDER BY name",
                      "SELECT email, reason, detail FROM suppressions ORDER BY email",
                      "SELECT email, reason, detail FROM list_suppressions ORDER BY email",
                      "SELECT r.email, d.state, d.suppressed_by FROM deliveries d JOIN recipients r ON r.id = d.recipient_id ORDER BY r.email"] {
            let original = try await rows(query, in: dir + "/salvo.db")
            let copied = try await rows(query, in: dir + "/back.db")
            #expect(!original.isEmpty, "\(query)")
            #expect(copied == original, "\(query)")
        }
    }

    /// The rows `query` reads, as text; a recipient's attributes and a list's columns by
    /// meaning (an attributes array may end early where a later column has no value).
    private func rows(_ query: String, in path: String) async throws -> [[String]] {
        try await DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: query).map { row in
                row.columnNames.map { name -> String in
                    let value: DatabaseValue = row[name]
                    if name == "attributes" || name == "columns", let text = String.fromDatabaseValue(value),
                       var values = try? JSONDecoder().decode([String?].self, from: Data(text.utf8)) {
                        while values.last == .some(nil) { values.removeLast() }
                        return "\(values)"
                    }
                    return "\(value)"
                }
            }
        }
    }
}
