import Foundation
import GRDB
import Testing
import TestPeers

/// `salvo db copy` between a project's SQLite database and a private PostgreSQL server,
/// there and back: every row of every table comes back as it left, the reports read the
/// same from both SQLite files, and a copy that would mix two databases is refused.
@Suite struct DatabaseCopyCommandTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

    /// The tables a copy moves, each with the order its rows are compared in.
    private static let tables: [(name: String, order: String)] = [
        ("lists", "id"), ("recipients", "id"), ("campaigns", "id"), ("deliveries", "id"), ("attempts", "id"),
        ("suppressions", "email"), ("list_suppressions", "list_id, email"), ("bounce_messages", "sha256"),
        ("bounce_events", "id"), ("notices", "id"), ("quota_days", "day"), ("unsubscribes", "id"),
        ("test_sends", "id"), ("tracking_events", "id"),
    ]

    /// A project that has sent a campaign to smtp-sink, with a row in every other table a
    /// copy moves, and recipients whose attributes arrays differ in length (a later import
    /// added a column for some of them).
    private func sentProject(sinkPort: Int) async throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<40 { csv += "r\(i)@d\(i % 4).test,R\(i),L\(i),\(i % 2 == 0 ? "NG" : "GH"),new\n" }
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(sinkPort)")], recipients: csv)
        try "email,plan\nr1@d1.test,gold\nr2@d2.test,\n".write(toFile: dir + "/plans.csv", atomically: true, encoding: .utf8)
        for step in [["import", "customers", "recipients.csv"], ["import", "customers", "plans.csv"],
                     ["campaign", "create", "welcome.yml"], ["send", "welcome"],
                     ["suppress", "add", "gone@d9.test"], ["suppress", "add", "r5@d1.test", "--list", "customers"]] {
            let result = try await SalvoBinary.run(step, in: dir, environment: secret)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stdout) \(result.stderr)")
        }
        // What no command here writes without a peer of its own: written as those commands do.
        try await DatabaseQueue(path: dir + "/salvo.db").write { db in
            try db.execute(sql: """
                UPDATE attempts SET tls_version = 'TLSv1.3', tls_verified = 1 WHERE id = 1;
                UPDATE deliveries SET tls_version = 'TLSv1.3', tls_verified = 0 WHERE id = 2;
                INSERT INTO notices (key, kind, campaign_id, detail, state, mail_from, rcpt_to, message, created_at)
                VALUES ('failure-summary:1', 'failure-summary', 1, '{"failed":0}', 'sent', 'news@shop.test', 'owner@shop.test', ?, 1764000000);
                INSERT INTO tracking_events (delivery_id, kind, link_position, link_target, at, machine, machine_reason)
                VALUES (1, 'click', 0, 'https://shop.test/a?x=1', 1764000100, 1, 'scanner'), (2, 'open', NULL, NULL, 1764000200, 0, NULL);
                INSERT INTO unsubscribes (email, campaign, channel, at) VALUES ('r3@d3.test', 'welcome', 'one-click', 1764000300);
                INSERT INTO bounce_messages (sha256, place, kind, reporter, processed_at)
                VALUES ('ab12', 'bounces.mbox message 1', 'hard-bounce', 'mx.d0.test', 1764000400);
                INSERT INTO bounce_events (message_sha256, delivery_id, email, kind, status, diagnostic, matched_by, created_at)
                VALUES ('ab12', 3, 'r2@d2.test', 'hard-bounce', '5.1.1', 'smtp; 550 5.1.1 no such user', 'verp', 1764000400);
                INSERT INTO test_sends (campaign_id, recipient, seed, outcome, reply, sent_at)
                VALUES (1, 'r0@d0.test', 'seed@shop.test', 'sent', '250 2.0.0 Ok', 1764000500);
                INSERT OR REPLACE INTO quota_days (day, used) VALUES ('2026-12-03', 40);
                """, arguments: [Data([0, 1, 2, 0xFF, 0x0D, 0x0A, 0x80])])
        }
        return dir
    }

    /// Runs `body` in a sent project (`sentProject`) beside a new PostgreSQL database.
    private func withSentProject(_ body: (_ dir: String, _ server: PostgresServer, _ database: String) async throws -> Void) async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let dir = try await sentProject(sinkPort: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)
        try await body(dir, server, database)
    }

    @Test func aDatabaseCopiedToPostgreSQLAndBackIsTheSameDatabase() async throws {
        try await withSentProject { dir, server, database in
            let url = server.url(database)

            let there = try await SalvoBinary.run(["db", "copy", "--to", url], in: dir)
            #expect(there.status == 0, "\(there.stdout) \(there.stderr)")
            #expect(there.stdout.contains("deliveries: 40\n") && there.stdout.contains("notices: 1\n")
                    && there.stdout.contains("every table's count verified"), "\(there.stdout)")
            // PostgreSQL keeps attributes by name (the engine's claim reads them so) and the
            // domain beside each address; the sequences go on after the copied ids.
            #expect(try await server.query("""
                SELECT attributes->>'first_name', attributes->>'plan', domain FROM recipients WHERE email = 'r1@d1.test'
                """, database: database) == "R1|gold|d1.test")
            #expect(try await server.query("SELECT attributes ? 'plan' FROM recipients WHERE email = 'r0@d0.test'",
                                           database: database) == "f")
            #expect(try await server.query("SELECT tls_verified, encode(message, 'hex') FROM attempts, notices WHERE attempts.id = 1",
                                           database: database) == "t|000102ff0d0a80")
            #expect(try await server.query("SELECT nextval('deliveries_id_seq')", database: database) == "41")

            let back = try await SalvoBinary.run(["db", "copy", "--from", url, "--to", "back.db"], in: dir)
            #expect(back.status == 0, "\(back.stdout) \(back.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/back.db.partial"))
            for table in Self.tables {
                let original = try await rows(of: table.name, order: table.order, in: dir + "/salvo.db")
                let copied = try await rows(of: table.name, order: table.order, in: dir + "/back.db")
                #expect(!original.isEmpty, "\(table.name) has no row to copy")
                #expect(copied == original, "\(table.name)")
            }
            // salvo status reads the same from PostgreSQL as from SQLite.
            let onSQLite = try await SalvoBinary.run(["status", "welcome", "--json"], in: dir)
            let onPostgres = try await SalvoBinary.run(["status", "welcome", "--json", "--db", url], in: dir)
            #expect(onPostgres.status == 0 && onPostgres.stdout == onSQLite.stdout,
                    "\(onSQLite.stdout)\n\(onPostgres.stdout)\n\(onPostgres.stderr)")
            // So do salvo status's text and salvo report, in each of its forms.
            for command in [["status", "welcome"], ["report", "welcome", "--json"], ["report", "welcome", "--csv", "-"],
                            ["report", "welcome", "--links", "--json"]] {
                let sqlite = try await SalvoBinary.run(command, in: dir)
                let postgres = try await SalvoBinary.run(command + ["--db", url], in: dir)
                #expect(sqlite.status == 0 && postgres.status == 0 && postgres.stdout == sqlite.stdout,
                        "salvo \(command.joined(separator: " ")): \(sqlite.stdout)\n\(postgres.stdout)\n\(postgres.stderr)")
            }
            for command in [["status", "welcome", "--json"], ["report", "welcome", "--json"], ["suppress", "list"]] {
                let before = try await SalvoBinary.run(command, in: dir)
                let after = try await SalvoBinary.run(command + ["--db", "back.db"], in: dir)
                #expect(before.status == 0 && after.status == 0 && before.stdout == after.stdout,
                        "salvo \(command.joined(separator: " ")): \(before.stdout) \(after.stdout) \(after.stderr)")
            }
        }
    }

    @Test func aCopyThatWouldMixTwoDatabasesIsRefused() async throws {
        try await withSentProject { dir, server, database in
            let url = server.url(database)
            #expect(try await SalvoBinary.run(["db", "copy", "--to", url], in: dir).status == 0)

            // Into a database that holds data: nothing is added.
            let again = try await SalvoBinary.run(["db", "copy", "--to", url], in: dir)
            #expect(again.status == 1)
            #expect(again.stderr.contains("cannot copy into PostgreSQL at 127.0.0.1:\(server.port)/\(database): it holds data already (1 lists, 40 recipients"),
                    "\(again.stderr)")
            #expect(try await server.query("SELECT count(*) FROM deliveries", database: database) == "40")

            // Over an SQLite file that exists: it is left as it was.
            let existing = try await SalvoBinary.run(["db", "copy", "--from", url, "--to", "salvo.db"], in: dir)
            #expect(existing.status == 1 && existing.stderr.contains("salvo.db exists; copy into a new file"), "\(existing.stderr)")
            #expect(try await rows(of: "deliveries", order: "id", in: dir + "/salvo.db").count == 40)

            // From a database a sender is working on: what it records next would be lost.
            try await DatabaseQueue(path: dir + "/salvo.db").write { db in
                try db.execute(sql: "INSERT INTO senders (owner, host, process, started_at, heartbeat_at) VALUES ('elsewhere:1:ab', 'elsewhere', '1:1', ?, ?)",
                               arguments: [Int(Date().timeIntervalSince1970), Int(Date().timeIntervalSince1970)])
            }
            let other = try await server.makeDatabase()
            defer { server.dropDatabase(other) }
            let busy = try await SalvoBinary.run(["db", "copy", "--to", server.url(other)], in: dir)
            #expect(busy.status == 1 && busy.stderr.contains("a sender is working on it (elsewhere:1:ab)"), "\(busy.stderr)")
            #expect(try await server.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database: other) == "0")

            // `bounces import` works on the PostgreSQL database, and starts no SQLite file.
            try Data().write(to: URL(fileURLWithPath: dir + "/empty.mbox"))
            try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
            let bounces = try await SalvoBinary.run(["bounces", "import", dir + "/empty.mbox", "--db", url, "--config", dir + "/salvo.yml"], in: dir + "/elsewhere")
            #expect(bounces.status == 0 && bounces.stdout.hasPrefix("read 0 messages"), "\(bounces.stdout) \(bounces.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/elsewhere/salvo.db"))

            // Between two stores of one kind, and from a server that is not there.
            let sqliteToSQLite = try await SalvoBinary.run(["db", "copy", "--to", "other.db"], in: dir)
            #expect(sqliteToSQLite.status == 1 && sqliteToSQLite.stderr.contains("both SQLite files"), "\(sqliteToSQLite.stderr)")
            let port = try TestPeers.RefusingPort()
            defer { withExtendedLifetime(port) {} }
            let nobody = try await SalvoBinary.run(["db", "copy", "--from", "postgres://salvo@127.0.0.1:\(port.port)/db?sslmode=disable",
                                                    "--to", "new.db"], in: dir)
            #expect(nobody.status == 1 && nobody.stderr.contains("PostgreSQL at 127.0.0.1:\(port.port)/db: connect: cannot connect"),
                    "\(nobody.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/new.db"))
        }
    }

    /// Every row of `table` as text, in `order`; a list's columns and a recipient's
    /// attributes by meaning (an attributes array may end early where a later column has
    /// no value).
    private func rows(of table: String, order: String, in path: String) async throws -> [[String]] {
        try await DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY \(order)").map { row in
                row.columnNames.map { name -> String in
                    let value: DatabaseValue = row[name]
                    if table == "recipients" && name == "attributes", let text = String.fromDatabaseValue(value),
                       var values = try? JSONDecoder().decode([String?].self, from: Data(text.utf8)) {
                        while values.last == .some(nil) { values.removeLast() }
                        return "\(values)"
                    }
                    if table == "lists" && name == "columns", let text = String.fromDatabaseValue(value),
                       let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) {
                        return "\(names)"
                    }
                    return "\(name)=\(value)"
                }
            }
        }
    }
}
