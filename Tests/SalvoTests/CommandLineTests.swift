import TestPeers
import Foundation
import Testing

@Suite struct CommandLineTests {
    @Test func initImportListsAndSegmentCount() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let initialised = try await SalvoBinary.run(["init"], in: dir)
        #expect(initialised.status == 0, "\(initialised.stderr)")
        for file in ["salvo.yml", "welcome.yml", "templates/welcome.html.mustache", "templates/welcome.txt.mustache", "recipients.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + file), "\(file)")
        }
        // A second init never overwrites.
        let again = try await SalvoBinary.run(["init"], in: dir)
        #expect(again.status != 0)
        #expect(again.stderr.contains("exists already"))

        let imported = try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout == "imported 6, updated 0, rejected 0\n")
        // The starter configuration names the database: it is created beside salvo.yml.
        #expect(FileManager.default.fileExists(atPath: dir + "/salvo.db"))

        let lists = try await SalvoBinary.run(["lists"], in: dir)
        #expect(lists.stdout.contains("customers"))
        #expect(lists.stdout.contains("first_name, last_name, country, tags"))

        let count = try await SalvoBinary.run(["segment", "count", "customers", #"tags contains "new" and country != "GH""#], in: dir)
        #expect(count.stdout == "3\n", "\(count.stderr)")
    }

    @Test func importReportsRejectsWithLineNumbersAndWritesThemAll() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "email,name\n"
        for i in 0..<30 { csv += "bad\(i),x\n" }
        csv += "good@example.com,\"G, ood\"\n"
        try csv.write(toFile: dir + "/list.csv", atomically: true, encoding: .utf8)
        let result = try await SalvoBinary.run(["import", "l", "list.csv", "--db", "t.db", "--rejects", "rejects.csv"], in: dir)
        #expect(result.status == 0)
        #expect(result.stdout == "imported 1, updated 0, rejected 30\n")
        #expect(result.stderr.contains("list.csv:2: invalid email 'bad0': no @ in address"))
        #expect(result.stderr.contains("... and 10 more rejected rows (all in rejects.csv)"))
        let rejects = try String(contentsOfFile: dir + "/rejects.csv", encoding: .utf8)
        let lines = rejects.split(separator: "\r\n")
        #expect(lines.count == 31)
        #expect(lines[0] == "line,email,reason")
        #expect(lines[30] == "31,bad29,invalid email 'bad29': no @ in address")
    }

    @Test func errorsExitNonZeroWithOneLine() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let noDatabase = try await SalvoBinary.run(["segment", "count", "nope", "email exists", "--db", "t.db"], in: dir)
        #expect(noDatabase.status != 0)
        #expect(noDatabase.stderr.contains("no database at t.db: run salvo init, or pass --db"))
        try "email\na@example.com\n".write(toFile: dir + "/one.csv", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "one", "one.csv", "--db", "t.db"], in: dir).status == 0)
        let missingList = try await SalvoBinary.run(["segment", "count", "nope", "email exists", "--db", "t.db"], in: dir)
        #expect(missingList.status != 0)
        #expect(missingList.stderr.contains("no list named 'nope'"))
        #expect(missingList.stderr.split(separator: "\n").count == 1, "\(missingList.stderr)")

        let missingFile = try await SalvoBinary.run(["import", "l", "missing.csv", "--db", "t.db"], in: dir)
        #expect(missingFile.status != 0)
        #expect(missingFile.stderr.contains("cannot read missing.csv"))

        try "delivery:\n  mode: carrier-pigeon\n".write(toFile: dir + "/salvo.yml", atomically: true, encoding: .utf8)
        let badConfig = try await SalvoBinary.run(["lists"], in: dir)
        #expect(badConfig.status != 0)
        #expect(badConfig.stderr.contains("salvo.yml:2: delivery.mode: expected one of mx | relay, found 'carrier-pigeon'"))
        let viaEnvironment = try await SalvoBinary.run(["lists", "--db", "t.db"], in: "/", environment: ["SALVO_CONFIG": dir + "/salvo.yml"])
        #expect(viaEnvironment.stderr.contains("carrier-pigeon"))
    }

    /// An import killed at any moment leaves the list exactly as it was before it.
    @Test func killedImportLeavesTheListUnchanged() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "email,n\nfirst@example.com,1\n".write(toFile: dir + "/first.csv", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "l", "first.csv", "--db", "t.db"], in: dir).status == 0)
        var csv = "email,n\n"
        csv.reserveCapacity(8_000_000)
        for i in 0..<200_000 { csv += "user\(i)@example.com,\(i)\n" }
        try csv.write(toFile: dir + "/big.csv", atomically: true, encoding: .utf8)

        // Killed once the import has written this much to the database's log (or never,
        // if it finished first): at its start, a little in, and well in.
        let wal = dir + "/t.db-wal"
        func walSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0 }
        for written in [16_384, 1_000_000, 4_000_000] {
            let before = walSize()
            let importing = try await SalvoBinary.start(["import", "l", "big.csv", "--db", "t.db"], in: dir)
            // The hang guard is long: an import that finishes first is as good an
            // outcome, and on a loaded machine a debug build's import of 200,000 rows
            // takes minutes (a log that reuses its file does not grow again).
            #expect(try await TestPeers.eventually(within: .seconds(600), every: .milliseconds(2)) {
                !importing.process.isRunning || walSize() - before >= written
            })
            importing.signal(SIGKILL)
            _ = await importing.finished()
            let count = try await SalvoBinary.run(["segment", "count", "l", "email exists", "--db", "t.db"], in: dir)
            let n = Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            // Either the kill came first (only the first import) or the import finished whole.
            #expect(n == 1 || n == 200_001, "after a kill at \(written) bytes written: \(count.stdout) \(count.stderr)")
        }
    }
}

@Suite struct CampaignCommandTests {
    @Test func createListAndPreview() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["init"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)

        let created = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("created campaign 'welcome': 4 recipients"))
        // salvo init wrote the unsubscribe secret into a file of the owner's alone.
        #expect(!created.stderr.contains("SALVO_UNSUBSCRIBE_SECRET"), "\(created.stderr)")
        let secret = try FileManager.default.attributesOfItem(atPath: dir + "/unsubscribe.secret")
        #expect((secret[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try String(contentsOfFile: dir + "/unsubscribe.secret", encoding: .utf8).utf8.count == 65)
        #expect(try await SalvoBinary.run(["campaign", "list"], in: dir).stdout.contains("welcome  [draft]  list customers"))

        let refused = try await SalvoBinary.run(["preview", "welcome"], in: dir, environment: ["SALVO_UNSUBSCRIBE_SECRET": "a"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("the unsubscribe secret in $SALVO_UNSUBSCRIBE_SECRET is 1 bytes; it must be at least 32"), "\(refused.stderr)")

        let preview = try await SalvoBinary.run(["preview", "welcome", "--recipient", "yuki.tanaka@EXAMPLE.net"], in: dir)
        #expect(preview.status == 0, "\(preview.stderr)")
        #expect(preview.stdout.contains("To: \"Yuki Tanaka\" <yuki.tanaka@example.net>\r\n"))
        #expect(preview.stdout.contains("Subject: Welcome, Yuki\r\n"))
        #expect(preview.stdout.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"))
        #expect(preview.stdout.contains("Thanks for joining us from JP."))
    }

    @Test func createRefusesUnknownFieldsAndListsNamingTheFile() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["init"], in: dir).status == 0)
        let noList = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(noList.status != 0)
        #expect(noList.stderr.contains("no list named 'customers'"))

        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        var text = try String(contentsOfFile: dir + "/templates/welcome.txt.mustache", encoding: .utf8)
        text += "\nYour plan: {{plan}}\n"
        try text.write(toFile: dir + "/templates/welcome.txt.mustache", atomically: true, encoding: .utf8)
        let unknown = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("templates/welcome.txt.mustache:7: unknown field 'plan'"), "\(unknown.stderr)")

        try "name: x\nlist: customers\nsegment: contry == \"NG\"\nfrom: a@example.com\nsubject: hi\ntext: templates/welcome.txt.mustache\ntransactional: true\n"
            .write(toFile: dir + "/x.yml", atomically: true, encoding: .utf8)
        let badSegment = try await SalvoBinary.run(["campaign", "create", "x.yml"], in: dir)
        #expect(badSegment.stderr.contains("x.yml: the segment uses 'contry'"), "\(badSegment.stderr)")

        try "name: y\nlist: customers\nfrom: not an address\nsubject: hi\ntext: templates/welcome.txt.mustache\n"
            .write(toFile: dir + "/y.yml", atomically: true, encoding: .utf8)
        let badFrom = try await SalvoBinary.run(["campaign", "create", "y.yml"], in: dir)
        #expect(badFrom.stderr.contains("y.yml:3: from: 'not an address' is not a valid sender"), "\(badFrom.stderr)")
    }
}

@Suite struct SendCommandTests {
    @Test func demoSendsTheSampleCampaignThroughTheEngine() async throws {
        let root = TestPeers.repositoryRoot.path
        let demo = try await SalvoBinary.run(["demo"], in: root)
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("imported 300, updated 0, rejected 0"))
        #expect(demo.stdout.contains("sent 23, deferred 0, bounced 0"))
        #expect(demo.stdout.contains("The sink captured 23 messages."))
        #expect(demo.stdout.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"))
    }

    @Test func sendDeliversToARealServerAndResumesWithNothingLeft() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(sink.port)")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)
        let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

        let dry = try await SalvoBinary.run(["send", "welcome", "--dry-run"], in: dir, environment: secret)
        #expect(dry.stdout.contains("dry run: 4 messages rendered"), "\(dry.stdout) \(dry.stderr)")
        #expect(try sink.transactions().isEmpty)

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(sent.stdout.contains("campaign 'welcome': 4 recipients queued"))
        #expect(sent.stdout.contains("sent 4, deferred 0, bounced 0, failed 0, unknown 0"), "\(sent.stdout)")
        #expect(try sink.transactions().map(\.rcptArgs).flatMap { $0 }.sorted() ==
                ["<ada.okafor@example.com>", "<kwame.mensah@example.net>", "<o'brien.sean@example.com>", "<yuki.tanaka@example.net>"])

        let again = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(again.stdout.contains("sent 0, deferred 0"), "\(again.stdout)")
        #expect(try sink.transactions().count == 4)
    }
}

@Suite struct OperationsCommandTests {
    @Test func statusReportSuppressPauseAndCancel() async throws {
        let ok = try await SMTPSinkPeer.start()
        let bad = try await SMTPSinkPeer.start(options: ["-f", "RCPT", "-B", "550 5.1.1 no such user"])
        defer { ok.stop(); bad.stop() }
        let dir = try await SalvoBinary.initProject(editing: [
            ("    \"*\": 127.0.0.1:2525", "    example.com: 127.0.0.1:\(ok.port)\n    example.net: 127.0.0.1:\(bad.port)"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["suppress", "add", "ADA.okafor@example.com"], in: dir).stdout.contains("suppressed 1 new"))
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.stdout.contains("sent 1, deferred 0, bounced 2"), "\(sent.stdout) \(sent.stderr)")

        let status = try await SalvoBinary.run(["status", "welcome", "--json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(object?["state"] as? String == "finished")
        #expect(object?["counts"] as? [String: Int] == ["sent": 1, "bounced": 2, "suppressed": 1])
        #expect((object?["top_replies"] as? [[String: Any]])?.first?["reply"] as? String == "550 5.1.1")

        // The report parses with Python's csv module and agrees with status.
        let report = try await SalvoBinary.run(["report", "welcome", "--csv", "report.csv"], in: dir)
        #expect(report.stdout == "wrote 4 rows to report.csv\n")
        let check = Process()
        check.executableURL = URL(fileURLWithPath: try TestPeers.executable("python3"))
        check.arguments = ["-c", """
            import csv, collections, sys
            rows = list(csv.DictReader(open(sys.argv[1], newline="")))
            assert list(rows[0].keys()) == "email,status,attempts,smtp_code,enhanced_code,response,mx_host,message_id,first_attempt_at,last_attempt_at,tls,tls_verified,opened_at,clicked_at,unsubscribed_at,suppressed_by".split(",")
            print(sorted(collections.Counter(r["status"] for r in rows).items()), [r["last_attempt_at"][-1:] for r in rows if r["status"] == "sent"])
            """, dir + "/report.csv"]
        let out = Pipe()
        check.standardOutput = out
        try check.run()
        check.waitUntilExit()
        #expect(String(decoding: try out.fileHandleForReading.readAllData(), as: UTF8.self)
                == "[('bounced', 2), ('sent', 1), ('suppressed', 1)] ['Z']\n")

        let asJSON = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir)
        let entries = try JSONSerialization.jsonObject(with: Data(asJSON.stdout.utf8)) as? [[String: Any]]
        #expect(entries?.count == 4)
        #expect(entries?.filter { $0["status"] as? String == "bounced" }.allSatisfy { $0["smtp_code"] as? Int == 550 } == true)

        // Hard bounces joined the suppression list.
        let listed = try await SalvoBinary.run(["suppress", "list"], in: dir).stdout
        #expect(listed.contains("kwame.mensah@example.net,hard-bounce"))
        #expect(listed.contains("ADA.okafor@example.com,manual"))

        // A finished campaign cannot be paused or cancelled; the errors say so.
        let pause = try await SalvoBinary.run(["pause", "welcome"], in: dir)
        #expect(pause.status != 0 && pause.stderr.contains("finished"), "\(pause.stderr)")
    }
}

@Suite struct CronTests {
    /// `salvo run` in a bounded loop, two at a time, with a scheduled campaign, a one-second
    /// retry interval and a site that is down at first: every recipient ends final and the
    /// servers see each one exactly once.
    @Test func overlappingRunsFinishAScheduledCampaignWithoutDuplicates() async throws {
        let ok = try await SMTPSinkPeer.start()
        defer { ok.stop() }
        let laterPort = try TestPeers.freePort()  // example.net's server is down for now
        let dir = try await SalvoBinary.initProject(editing: [
            ("    \"*\": 127.0.0.1:2525", "    example.com: 127.0.0.1:\(ok.port)\n    example.net: 127.0.0.1:\(laterPort)"),
            ("intervals: [15m]", "intervals: [1s]"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["run"], in: dir, environment: secret).stdout == "nothing due\n")
        let past = try await SalvoBinary.run(["schedule", "welcome", "--at", "2020-01-01T00:00:00Z"], in: dir)
        #expect(past.status != 0 && past.stderr.contains("2020-01-01T00:00:00Z is in the past"), "\(past.stderr)")
        let scheduled = try await SalvoBinary.run(["schedule", "welcome", "--at", "now"], in: dir)
        #expect(scheduled.status == 0, "\(scheduled.stderr)")

        var later: SMTPSinkPeer?
        defer { later?.stop() }
        // Rounds of two overlapping runs until the campaign is finished; example.net's
        // server comes up after the second. A round finds the retries due once their
        // second has passed; the deadline only guards against a hang.
        var rounds = 0
        let finished = try await TestPeers.eventually(within: .seconds(180), every: .milliseconds(250)) {
            if rounds == 2 { later = try await SMTPSinkPeer.start(port: laterPort) }
            rounds += 1
            async let first = SalvoBinary.run(["run"], in: dir, environment: secret, timeout: 60)
            async let second = SalvoBinary.run(["run"], in: dir, environment: secret, timeout: 60)
            let results = try await [first, second]
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            let status = try await SalvoBinary.run(["status", "welcome", "--json"], in: dir)
            let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            return object?["state"] as? String == "finished"
        }
        #expect(finished, "not finished after \(rounds) rounds")
        let report = try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir).stdout
        #expect(report.components(separatedBy: ",sent,").count - 1 == 4, "\(report)")
        let received = try ok.transactions() + (later?.transactions() ?? [])
        #expect(received.map(\.rcptArgs).flatMap { $0 }.sorted() ==
                ["<ada.okafor@example.com>", "<kwame.mensah@example.net>", "<o'brien.sean@example.com>", "<yuki.tanaka@example.net>"])
    }
}
