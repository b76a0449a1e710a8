import Foundation
import Testing
import TestPeers

/// `salvo send` on a PostgreSQL database (`--db postgres://…`), against smtp-sink: a
/// campaign made on SQLite and copied there (`salvo db copy`) starts on PostgreSQL with its
/// segment and suppressions, and several senders at once deliver it to each recipient once.
@Suite struct PostgresSendCommandTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

    /// A project with `count` recipients, a third of them outside the welcome campaign's
    /// segment (`tags contains "new"`), one suppressed, copied into a new PostgreSQL
    /// database; returns the folder and the database's URL.
    private func copiedProject(count: Int, sinkPort: Int, server: PostgresServer, database: String) async throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<count { csv += "r\(i)@d\(i % 5).test,R\(i),L,NG,\(i % 3 == 0 ? "old" : "new")\n" }
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(sinkPort)")], recipients: csv)
        let url = server.url(database)
        for step in [["import", "customers", "recipients.csv"], ["campaign", "create", "welcome.yml"],
                     ["suppress", "add", "r1@d1.test"], ["db", "copy", "--to", url]] {
            let result = try await SalvoBinary.run(step, in: dir)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stdout) \(result.stderr)")
        }
        return dir
    }

    @Test func threeSendersOnOnePostgreSQLCampaignDeliverToEachRecipientOnce() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let dir = try await copiedProject(count: 900, sinkPort: sink.port, server: server, database: database)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)

        let senders = try (0..<3).map { _ in try SalvoBinary.start(["send", "welcome", "--db", url], in: dir, environment: secret) }
        var results: [SalvoBinary.Result] = []
        for sender in senders { results.append(await sender.finished(timeout: 300)) }
        for result in results { #expect(result.status == 0, "\(result.stdout) \(result.stderr)") }

        // 600 in the segment, one of them suppressed: 599 messages, each to its own recipient.
        let expected = Set((0..<900).filter { $0 % 3 != 0 && $0 != 1 }.map { "<r\($0)@d\($0 % 5).test>" })
        let received = try sink.transactions().flatMap(\.rcptArgs)
        #expect(received.count == expected.count)
        #expect(Set(received) == expected)
        #expect(try await server.query("SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state", database: database)
                == "sent|599\nsuppressed|1")
        #expect(try await server.query("SELECT state FROM campaigns WHERE name = 'welcome'", database: database) == "finished")
        // No claim outlives its delivery's outcome, and the three told of 599 messages in all.
        #expect(try await server.query("SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL", database: database) == "0")
        let reported = results.compactMap { result in
            result.stdout.split(separator: "\n").first { $0.hasPrefix("sent ") }
                .flatMap { Int($0.dropFirst(5).prefix { $0.isNumber }) }
        }
        #expect(reported.count == 3 && reported.reduce(0, +) == 599, "\(results.map(\.stdout))")
    }

    /// `salvo run` from cron on two hosts (two temporary folders here: the run lock is per
    /// host) starts the scheduled campaign and sends it together; a later run has nothing due.
    @Test func aRunOnEachHostSendsTheScheduledCampaignTogether() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<1200 { csv += "r\(i)@d\(i % 5).test,R\(i),L,NG,new\n" }
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(sink.port)")], recipients: csv)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)
        for step in [["import", "customers", "recipients.csv"], ["campaign", "create", "welcome.yml"],
                     ["schedule", "welcome", "--at", "now"], ["db", "copy", "--to", url]] {
            let result = try await SalvoBinary.run(step, in: dir)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stdout) \(result.stderr)")
        }
        var runs: [SalvoBinary.Running] = []
        for host in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: dir + "/host-" + host, withIntermediateDirectories: true)
            runs.append(try SalvoBinary.start(["run", "--db", url], in: dir,
                                              environment: secret.merging(["TMPDIR": dir + "/host-" + host]) { $1 }))
        }
        var results: [SalvoBinary.Result] = []
        for run in runs { results.append(await run.finished(timeout: 300)) }
        for result in results { #expect(result.status == 0, "\(result.stdout) \(result.stderr)") }
        let received = try sink.transactions().flatMap(\.rcptArgs)
        #expect(received.count == 1200 && Set(received).count == 1200)
        #expect(try await server.query("SELECT state FROM campaigns WHERE name = 'welcome'", database: database) == "finished")
        let later = try await SalvoBinary.run(["run", "--db", url], in: dir, environment: secret)
        #expect(later.status == 0 && later.stdout.contains("nothing due"), "\(later.stdout) \(later.stderr)")
    }

    /// `salvo pause` on the database stops every sender of the campaign, wherever it runs;
    /// `cancel` takes back the rest, and a cancelled campaign cannot be resumed.
    @Test func pauseStopsEverySenderAndCancelTakesBackTheRest() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        // 2 messages a second for the fleet: far longer than a pause takes to reach the
        // senders. More recipients than one sender holds (a claim of 500, and another
        // when fewer than 500 are queued), so the second has some of its own.
        let recipients = 1500
        let dir = try await SalvoBinary.slowProject(recipients: recipients, prefix: "p", port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)
        #expect(try await SalvoBinary.run(["db", "copy", "--to", url], in: dir).status == 0)

        let senders = try (0..<2).map { _ in try SalvoBinary.start(["send", "welcome", "--db", url], in: dir, environment: secret) }
        // Paused once both are under way: each holds claims, and the server has a message.
        #expect(try await TestPeers.eventually(within: .seconds(120)) {
            try await server.query("SELECT count(DISTINCT claimed_by) FROM deliveries WHERE claimed_by IS NOT NULL",
                                   database: database) == "2"
        })
        #expect(try await TestPeers.eventually { try sink.transactions().count > 0 })
        let paused = try await SalvoBinary.run(["pause", "welcome", "--db", url], in: dir)
        #expect(paused.status == 0 && paused.stdout.contains("campaign 'welcome' paused"), "\(paused.stdout) \(paused.stderr)")
        for sender in senders {
            let result = await sender.finished(timeout: 120)
            #expect(result.status == 0 && result.stdout.contains("stopped: the campaign was paused"), "\(result.stdout) \(result.stderr)")
        }
        let sent = try sink.transactions().count
        #expect(sent > 0 && sent < recipients, "\(sent)")
        #expect(try await server.query("SELECT state FROM campaigns WHERE name = 'welcome'", database: database) == "paused")
        // Handed back: nothing is held by a sender that stopped.
        #expect(try await server.query("SELECT count(*) FROM deliveries WHERE state IN ('claimed', 'sending')", database: database) == "0")
        let sentRows = try await server.query("SELECT count(*) FROM deliveries WHERE state = 'sent'", database: database)

        let cancelled = try await SalvoBinary.run(["cancel", "welcome", "--db", url], in: dir)
        #expect(cancelled.status == 0 && cancelled.stdout.contains("cancelled: \(recipients - (Int(sentRows) ?? 0)) recipients will not be sent"),
                "\(cancelled.stdout) \(cancelled.stderr) (\(sentRows) sent)")
        let resumed = try await SalvoBinary.run(["resume", "welcome", "--db", url], in: dir)
        #expect(resumed.status == 1 && resumed.stderr.contains("cannot resume campaign 'welcome': it is cancelled"), "\(resumed.stderr)")
        let again = try await SalvoBinary.run(["send", "welcome", "--db", url], in: dir, environment: secret)
        #expect(again.status == 1 && again.stderr.contains("campaign 'welcome' was cancelled"), "\(again.stderr)")
        #expect(try sink.transactions().count == sent)
    }

    /// A test send reaches its seed and is recorded apart; a missing campaign and a server
    /// that is not there are one line each; none of them starts the campaign.
    @Test func aTestSendAndTheMistakesLeaveTheCampaignUnstarted() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let dir = try await copiedProject(count: 6, sinkPort: sink.port, server: server, database: database)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)

        let test = try await SalvoBinary.run(["send", "welcome", "--db", url, "--test-to", "seed@shop.test"], in: dir, environment: secret)
        #expect(test.status == 0 && test.stdout.contains("seed@shop.test: sent (accepted)"), "\(test.stdout) \(test.stderr)")
        let seeded = try sink.transactions()
        #expect(seeded.map(\.rcptArgs) == [["<seed@shop.test>"]])
        let seedText = String(decoding: seeded.first?.message ?? [], as: UTF8.self)
        #expect(seedText.contains("Subject: [test] "), "\(seedText)")
        #expect(try await server.query("SELECT seed, outcome FROM test_sends", database: database)
                == "seed@shop.test|sent")
        let missing = try await SalvoBinary.run(["send", "nosuch", "--db", url], in: dir, environment: secret)
        #expect(missing.status == 1 && missing.stderr.contains("no campaign named 'nosuch'"), "\(missing.stderr)")
        #expect(try sink.transactions().count == 1)
        #expect(try await server.query("SELECT count(*) FROM deliveries", database: database) == "0")
        #expect(try await server.query("SELECT state FROM campaigns", database: database) == "draft")

        let port = try TestPeers.RefusingPort()
        defer { withExtendedLifetime(port) {} }
        let nobody = try await SalvoBinary.run(["send", "welcome", "--db", "postgres://salvo@127.0.0.1:\(port.port)/db?sslmode=disable"],
                                               in: dir, environment: secret)
        #expect(nobody.status == 1 && nobody.stderr.contains("PostgreSQL at 127.0.0.1:\(port.port)/db: connect: cannot connect"),
                "\(nobody.stderr)")
    }
}
