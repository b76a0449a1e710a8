import Campaigns
import Foundation
import GRDB
import MailMessage
import TestPeers
import Testing

/// A campaign's life through the built binary, against smtp-sink: what the sink received
/// and what the store holds after each step.
@Suite struct CampaignLifecycleCommandTests {
    /// A `salvo init` project routed to `port`, its list imported and its campaign created.
    private func project(port: Int, editing edits: [(String, String)] = []) async throws -> String {
        try await SalvoBinary.campaignProject(port: port, editing: edits)
    }

    private func store(_ dir: String) throws -> SalvoStore { try SalvoStore(path: dir + "/salvo.db") }

    private func deliveries(_ dir: String) throws -> Int {
        try store(dir).writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deliveries") ?? 0 }
    }

    private func subjects(_ transactions: [SinkTransaction]) -> [String] {
        transactions.compactMap { transaction in
            String(decoding: transaction.message, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) }
        }
    }

    @Test func aTemplateEditedAfterCreateIsRefusedAtPreviewSendAndRunNamingFileAndLine() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await project(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let template = dir + "/templates/welcome.txt.mustache"
        try (String(contentsOfFile: template, encoding: .utf8) + "Your code is {{coupon}}.\n").write(toFile: template, atomically: true, encoding: .utf8)
        let place = "templates/welcome.txt.mustache:6: unknown field 'coupon'"

        let preview = try await SalvoBinary.run(["preview", "welcome"], in: dir)
        #expect(preview.status == 1 && preview.stderr.contains(place), "\(preview.stderr)")
        let dry = try await SalvoBinary.run(["send", "welcome", "--dry-run"], in: dir)
        #expect(dry.status == 1 && dry.stderr.contains(place), "\(dry.stderr)")
        let send = try await SalvoBinary.run(["send", "welcome"], in: dir)
        #expect(send.status == 1 && send.stderr.contains(place), "\(send.stderr)")
        #expect(try await SalvoBinary.run(["schedule", "welcome", "--at", "now"], in: dir).status == 0)
        let run = try await SalvoBinary.run(["run"], in: dir)
        #expect(run.stderr.contains(place), "\(run.stdout)\(run.stderr)")

        #expect(try sink.transactionFileCount() == 0)
        #expect(try deliveries(dir) == 0)
        #expect(try store(dir).campaignState(named: "welcome") == "scheduled")
    }

    @Test func anUpdatedCampaignSendsItsNewSubjectAndAFinishedOneMailsNoNewcomer() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await project(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/welcome.yml"
        try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "Welcome, {{first_name}}", with: "Hello again, {{first_name}}")
            .write(toFile: file, atomically: true, encoding: .utf8)
        // Before the update the stored subject is sent; the changed file is named.
        let preview = try await SalvoBinary.run(["preview", "welcome", "--text"], in: dir)
        #expect(preview.stdout.contains("Subject: Welcome, Ada") && preview.stderr.contains("has changed since campaign 'welcome' was stored"))
        let updated = try await SalvoBinary.run(["campaign", "update", "welcome.yml"], in: dir)
        #expect(updated.stdout == "updated campaign 'welcome' (draft): subject\n", "\(updated.stdout)\(updated.stderr)")

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir)
        #expect(sent.status == 0 && sent.stdout.contains("sent 4, deferred 0"), "\(sent.stdout)\(sent.stderr)")
        #expect(Set(subjects(try sink.transactions())) == ["Hello again, Ada", "Hello again, Kwame", "Hello again, Sean", "Hello again, Yuki"])

        // A running or finished campaign refuses what is not safe, with the reason.
        try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "tags contains \"new\"", with: "country == \"NG\"")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try await SalvoBinary.run(["campaign", "update", "welcome.yml"], in: dir)
        #expect(refused.status == 1 && refused.stderr.contains("campaign 'welcome' is finished: a sent campaign does not change"), "\(refused.stderr)")

        // A newcomer who matches the segment is not mailed by a later send.
        try "email,first_name,tags\nnew.comer@example.com,New,new\n".write(toFile: dir + "/more.csv", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "customers", "more.csv"], in: dir).status == 0)
        let again = try await SalvoBinary.run(["send", "welcome"], in: dir)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try sink.transactions().count == 4)
        #expect(try deliveries(dir) == 4)

        // show, clone, delete: the clone's audience counts the newcomer; the sent one is archived.
        let show = try await SalvoBinary.run(["campaign", "show", "welcome"], in: dir)
        #expect(show.stdout.contains("audience:     4 recipients (decided at start)"), "\(show.stdout)")
        #expect(show.stdout.contains("html:         \(dir)/templates/welcome.html.mustache") || show.stdout.contains("/templates/welcome.html.mustache"))
        let clone = try await SalvoBinary.run(["campaign", "clone", "welcome", "welcome-2"], in: dir)
        #expect(clone.stdout.contains("created campaign 'welcome-2' from 'welcome': 5 recipients"), "\(clone.stdout)\(clone.stderr)")
        #expect(try await SalvoBinary.run(["campaign", "delete", "welcome-2"], in: dir).stdout == "deleted campaign 'welcome-2'\n")
        #expect(try await SalvoBinary.run(["campaign", "delete", "welcome"], in: dir).stdout.hasPrefix("archived campaign 'welcome'"))
        #expect(try await SalvoBinary.run(["campaign", "list"], in: dir).stdout.hasPrefix("no campaigns yet"))
        #expect(try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir).stdout.components(separatedBy: ",sent,").count == 5)
    }

    @Test func aTestSendReachesOnlyTheSeedAndIsRecordedApart() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await project(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let test = try await SalvoBinary.run(["send", "welcome", "--test-to", "seed@example.org", "--recipient", "yuki.tanaka@example.net"], in: dir)
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        #expect(test.stdout.contains("seed@example.org: sent"), "\(test.stdout)")
        let received = try sink.transactions()
        #expect(received.map(\.rcptArgs) == [["<seed@example.org>"]])
        let text = String(decoding: received[0].message, as: UTF8.self)
        #expect(text.contains("Subject: [test] Welcome, Yuki\n") && text.contains("Thanks for joining us from JP."))
        #expect(received[0].mailArgs.hasPrefix("<news@example.com>"))

        let store = try store(dir)
        #expect(try deliveries(dir) == 0)
        #expect(try store.campaignState(named: "welcome") == "draft")
        let recorded = try store.testSends(campaign: "welcome")
        #expect(recorded.map(\.seed) == ["seed@example.org"] && recorded.map(\.recipient) == ["yuki.tanaka@example.net"])
        #expect(recorded.map(\.outcome) == ["sent"])

        let bad = try await SalvoBinary.run(["send", "welcome", "--test-to", "not an address"], in: dir)
        #expect(bad.status == 1 && bad.stderr.contains("--test-to not an address: not an address"), "\(bad.stderr)")
    }

    @Test func previewShowsTheTextTheHTMLAndTheEffectiveHeaders() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await project(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yuki = try await SalvoBinary.run(["preview", "welcome", "--text", "--recipient", "yuki.tanaka@example.net", "--html", "page.html"], in: dir)
        #expect(yuki.status == 0, "\(yuki.stderr)")
        let lines = yuki.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "From: \"Example Shop\" <news@example.com>" || lines[0] == "From: Example Shop <news@example.com>", "\(lines[0])")
        #expect(lines[1] == "To: \"Yuki Tanaka\" <yuki.tanaka@example.net>" || lines[1] == "To: Yuki Tanaka <yuki.tanaka@example.net>")
        #expect(lines[2] == "Subject: Welcome, Yuki")
        #expect(lines[3] == "Reply-To: (none: replies go to From)")
        #expect(lines[4].hasPrefix("List-Unsubscribe: <https://example.com/u/") && lines[4].hasSuffix("> (one-click)"), "\(lines[4])")
        #expect(yuki.stdout.contains("\n\nWelcome, Yuki!\n\nThanks for joining us from JP.\n"))
        #expect(!yuki.stdout.contains("=\r\n") && !yuki.stdout.contains("Content-Transfer-Encoding"))
        let page = try String(contentsOfFile: dir + "/page.html", encoding: .utf8)
        #expect(page.hasPrefix("<!doctype html>") && page.contains("<h1>Welcome, Yuki!</h1>"))
        #expect(try sink.transactionFileCount() == 0)
    }

    @Test func statusShowsTheScheduleTheAudienceTheNextRetryAndTodaysUse() async throws {
        let sink = try await SMTPSinkPeer.start()
        let laterPort = try TestPeers.freePort()  // example.net is down: its recipients defer
        defer { sink.stop() }
        let dir = try await project(port: sink.port, editing: [
            ("    \"*\": 127.0.0.1:\(sink.port)", "    example.com: 127.0.0.1:\(sink.port)\n    example.net: 127.0.0.1:\(laterPort)"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let draft = try await SalvoBinary.run(["status", "welcome"], in: dir)
        #expect(draft.stdout.contains("audience: 4 recipients match its segment today"), "\(draft.stdout)")
        let future = "2099-01-01T09:00:00Z"
        #expect(try await SalvoBinary.run(["schedule", "welcome", "--at", future], in: dir).status == 0)
        let scheduled = try await SalvoBinary.run(["status", "welcome", "--json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: Data(scheduled.stdout.utf8)) as? [String: Any]
        #expect(object?["scheduled_at"] as? String == future && object?["audience"] as? Int == 4, "\(scheduled.stdout)")
        #expect(try await SalvoBinary.run(["status", "welcome"], in: dir).stdout.contains("scheduled for: \(future)"))

        // Rescheduled to now, run: example.com delivered, example.net deferred.
        #expect(try await SalvoBinary.run(["schedule", "welcome", "--at", "now"], in: dir).status == 0)
        let run = try await SalvoBinary.run(["run"], in: dir)
        #expect(run.stdout.contains("sent 2, deferred 2"), "\(run.stdout)\(run.stderr)")
        let after = try JSONSerialization.jsonObject(with: Data(try await SalvoBinary.run(["status", "welcome", "--json"], in: dir).stdout.utf8)) as? [String: Any]
        let quota = after?["quota"] as? [String: Any]
        #expect(quota?["used"] as? Int == 2, "\(String(describing: after))")
        #expect((after?["next_retry_at"] as? String)?.hasSuffix("Z") == true)
        #expect(after?["audience"] == nil || after?["audience"] is NSNull)
        let text = try await SalvoBinary.run(["status", "welcome"], in: dir).stdout
        #expect(text.contains("next retry: ") && text.contains("handed to servers today: 2"), "\(text)")
        #expect(try sink.transactions().count == 2)
    }

    /// Off a terminal (stderr is a pipe here) a send prints a timestamped progress line
    /// every five seconds: 30 recipients at 5 a second take six.
    @Test func offATerminalASendPrintsTimestampedProgressLines() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await SalvoBinary.slowCampaignProject(port: sink.port, recipients: 30, rate: 5)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, timeout: 60)
        #expect(sent.status == 0 && sent.stdout.contains("sent 30, deferred 0"), "\(sent.stdout)\(sent.stderr)")
        expectProgressLines(in: sent.stderr, of: 30)
        #expect(try sink.transactions().count == 30)
    }

    /// `salvo run` from cron prints the same lines, each naming the campaign it sends.
    @Test func offATerminalARunPrintsTimestampedProgressLinesNamingTheCampaign() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await SalvoBinary.slowCampaignProject(port: sink.port, recipients: 30, rate: 5)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["schedule", "welcome", "--at", "now"], in: dir).status == 0)
        let run = try await SalvoBinary.run(["run"], in: dir, timeout: 60)
        #expect(run.status == 0 && run.stdout.contains("sent 30, deferred 0"), "\(run.stdout)\(run.stderr)")
        expectProgressLines(in: run.stderr, of: 30, campaign: "welcome")
        #expect(try sink.transactions().count == 30)
    }

    /// At least one progress line, each `TIME [campaign 'NAME'] done/total (p%) sent …`.
    private func expectProgressLines(in stderr: String, of total: Int, campaign: String? = nil,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = stderr.split(separator: "\n").filter { $0.contains("/\(total) (") }
        #expect(!lines.isEmpty, "\(stderr)", sourceLocation: sourceLocation)
        for line in lines {
            let fields = line.split(separator: " ")
            #expect(fields.count > 2 && fields[0].hasSuffix("Z") && (try? Date(String(fields[0]), strategy: .iso8601)) != nil, "\(line)", sourceLocation: sourceLocation)
            if let campaign {
                #expect(fields.count > 3 && fields[1] == "campaign" && fields[2] == "'\(campaign)'", "\(line)", sourceLocation: sourceLocation)
            }
            #expect(line.contains(" sent ") && line.contains(" deferred 0 bounced 0 failed 0 unknown 0, ") && line.contains("/s  ETA "), "\(line)", sourceLocation: sourceLocation)
        }
    }

    @Test func aBulkCampaignWithoutUnsubscribeIsRefusedAndTwoKeysSignEveryMessage() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let rsa = try DKIMKey.generate(.rsa), ed = try DKIMKey.generate(.ed25519)
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("# dkim:", "dkim:\n  - { domain: example.com, selector: rsa1, key: rsa.pem }\n  - { domain: example.com, selector: ed1, key: ed.pem }\n# was dkim:"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try rsa.pemRepresentation.write(toFile: dir + "/rsa.pem", atomically: true, encoding: .utf8)
        try ed.pemRepresentation.write(toFile: dir + "/ed.pem", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        let file = dir + "/welcome.yml"
        let original = try String(contentsOfFile: file, encoding: .utf8)
        try original.replacingOccurrences(of: "unsubscribe: \"https://example.com/u/{{unsubscribe_token}}\"\n", with: "")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(refused.status == 1 && refused.stderr.contains("welcome.yml") && refused.stderr.contains("a bulk campaign needs an unsubscribe link"), "\(refused.stderr)")
        try original.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir)
        #expect(sent.status == 0 && sent.stdout.contains("sent 4"), "\(sent.stdout)\(sent.stderr)")
        let messages = try sink.transactions().map { Array(String(decoding: $0.message, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8) }
        #expect(messages.count == 4)
        let verdicts = try await DKIMVerdict.verify(messages, records: [
            "rsa1._domainkey.example.com": rsa.dnsRecord, "ed1._domainkey.example.com": ed.dnsRecord,
        ])
        for verdict in verdicts { #expect(verdict.ok && verdict.signatures == 2, "\(verdict.log)") }
    }
}
