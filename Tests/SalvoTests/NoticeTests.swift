import Foundation
import Testing
import TestPeers

/// Notices from the command line, against real smtp-sink peers: a campaign whose
/// example.net recipients are refused tells its `notify:` address once, and a notice that
/// could not be sent is a warning, tried again by the next run.
@Suite struct NoticeTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

    /// A `salvo init` project whose example.com and notify.test mail goes to `accepting`,
    /// example.net mail to `refusing`, with a daily quota and `notify: ops@notify.test`.
    private func project(accepting: Int, refusing: Int, notify: Int, db: [String] = []) async throws -> String {
        let dir = try await SalvoBinary.initProject(editing: [
            ("    \"*\": 127.0.0.1:2525", """
                    example.com: 127.0.0.1:\(accepting)
                    example.net: 127.0.0.1:\(refusing)
                    notify.test: 127.0.0.1:\(notify)
                """),
        ])
        try (String(contentsOfFile: dir + "/salvo.yml", encoding: .utf8) + "quota:\n  per_day: 100\n")
            .write(toFile: dir + "/salvo.yml", atomically: true, encoding: .utf8)
        try (String(contentsOfFile: dir + "/welcome.yml", encoding: .utf8) + "\nnotify: ops@notify.test\n")
            .write(toFile: dir + "/welcome.yml", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"] + db, in: dir).status == 0)
        let created = try await SalvoBinary.run(["campaign", "create", "welcome.yml"] + db, in: dir)
        #expect(created.status == 0, "\(created.stderr)")
        return dir
    }

    /// On the project's SQLite file, and on a PostgreSQL database (`--db postgres://…`),
    /// where the host that finishes the campaign queues the summary and any host's send or
    /// run sends it.
    @Test(arguments: [false, true])
    func aFinishedCampaignWithFailuresSendsOneSummaryToTheNotifyAddress(onPostgreSQL: Bool) async throws {
        let ok = try await SMTPSinkPeer.start()
        let bad = try await SMTPSinkPeer.start(options: ["-f", "RCPT", "-B", "550 5.1.1 no such user"])
        defer { ok.stop(); bad.stop() }
        var db: [String] = []
        var dropDatabase: @Sendable () -> Void = {}
        if onPostgreSQL {
            let server = try await PostgresServer.shared()
            let database = try await server.makeDatabase()
            dropDatabase = { server.dropDatabase(database) }
            db = ["--db", server.url(database)]
        }
        defer { dropDatabase() }
        let dir = try await project(accepting: ok.port, refusing: bad.port, notify: ok.port, db: db)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let sent = try await SalvoBinary.run(["send", "welcome", "--wait"] + db, in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(sent.stdout.contains("sent 2, deferred 0, bounced 2"), "\(sent.stdout)")
        #expect(sent.stdout.contains("notice: failure summary of 'welcome' sent to ops@notify.test"), "\(sent.stdout) \(sent.stderr)")
        func summaries() throws -> [SinkTransaction] { try ok.transactions().filter { $0.rcptArgs == ["<ops@notify.test>"] } }
        let received = try summaries()
        #expect(received.count == 1)
        let text = String(decoding: received.first?.message ?? [], as: UTF8.self)
        #expect(received.first?.mailArgs.hasPrefix("<news@example.com>") == true, "\(received.first?.mailArgs ?? "")")
        for expected in ["To: <ops@notify.test>\n", "Auto-Submitted: auto-generated\n", "Message-ID: <", "Date: ",
                         "Subject: Salvo: campaign welcome finished, 2 of 4 recipients not delivered\n",
                         "Content-Type: text/plain; charset=", "  sent        2\n", "  bounced     2\n",
                         "       2  550 5.1.1 no such user\n", "       2  example.net\n",
                         "salvo report welcome --csv welcome-report.csv"] {
            #expect(text.contains(expected), "missing \(expected.debugDescription) in:\n\(text)")
        }

        // A second send, and salvo run, find the campaign finished and the summary sent.
        let again = try await SalvoBinary.run(["send", "welcome"] + db, in: dir, environment: secret)
        #expect(again.status == 0 && !again.stdout.contains("notice:"), "\(again.stdout)")
        let cron = try await SalvoBinary.run(["run"] + db, in: dir, environment: secret)
        #expect(cron.stdout == "nothing due\n", "\(cron.stdout) \(cron.stderr)")
        #expect(try summaries().count == 1)

        // Bounces reached a server too: four of the day's hundred are used.
        let status = try await SalvoBinary.run(["status", "welcome"] + db, in: dir)
        #expect(status.stdout.contains("daily quota: 4 of 100 handed to servers today ("), "\(status.stdout)")
        #expect(status.stdout.contains("notice: failure summary sent to ops@notify.test at "), "\(status.stdout)")
    }

    @Test func aNoticeThatCannotBeSentIsAWarningAndTheNextRunSendsIt() async throws {
        let ok = try await SMTPSinkPeer.start()
        let bad = try await SMTPSinkPeer.start(options: ["-f", "RCPT", "-B", "550 5.1.1 no such user"])
        defer { ok.stop(); bad.stop() }
        let notifyPort = try TestPeers.freePort()  // the notify address's server is down for now
        let dir = try await project(accepting: ok.port, refusing: bad.port, notify: notifyPort)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(sent.stderr.contains("warning: failure summary of 'welcome' to ops@notify.test not sent: "), "\(sent.stderr)")
        #expect(sent.stderr.contains("the next salvo send or salvo run tries again"), "\(sent.stderr)")

        let notify = try await SMTPSinkPeer.start(port: notifyPort)
        defer { notify.stop() }
        let cron = try await SalvoBinary.run(["run"], in: dir, environment: secret)
        #expect(cron.status == 0, "\(cron.stderr)")
        #expect(cron.stdout.contains("notice: failure summary of 'welcome' sent to ops@notify.test"), "\(cron.stdout) \(cron.stderr)")
        #expect(try notify.transactions().count == 1)
        let again = try await SalvoBinary.run(["run"], in: dir, environment: secret)
        #expect(again.stdout == "nothing due\n", "\(again.stdout)")
        #expect(try notify.transactions().count == 1)
    }
}
