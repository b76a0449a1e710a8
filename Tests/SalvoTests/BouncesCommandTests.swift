import Foundation
import TestPeers
import Testing

/// `salvo bounces import` through the built binary, over the Postfix fixtures.
@Suite struct BouncesCommandTests {
    static let fixtures = TestPeers.repositoryRoot.appendingPathComponent("Tests/CampaignsTests/Fixtures/bounces").path

    @Test func importTwiceThenNamesMalformedMessagesAndRefusesAMissingPath() async throws {
        let dir = try SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let environment = ["SALVO_UNSUBSCRIBE_SECRET": "fixture-verp-secret"]
        let first = try await SalvoBinary.run(["bounces", "import", Self.fixtures + "/postfix.mbox", "--db", "t.db"], in: dir, environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        // No deliveries in this database: every bounce is unmatched, and the hard ones
        // suppress their addresses all the same.
        #expect(first.stdout == "read 3 messages: 2 hard bounces, 1 soft, 0 complaints, 0 unsubscribes, 0 not bounces; 0 already processed; 3 unmatched\n")
        let again = try await SalvoBinary.run(["bounces", "import", Self.fixtures + "/postfix.mbox", "--db", "t.db"], in: dir, environment: environment)
        #expect(again.stdout == "read 3 messages: 0 hard bounces, 0 soft, 0 complaints, 0 unsubscribes, 0 not bounces; 3 already processed; 0 unmatched\n")
        let list = try await SalvoBinary.run(["suppress", "list", "--db", "t.db"], in: dir)
        #expect(list.stdout.split(separator: "\n").filter { $0.contains(",hard-bounce,") }.map { $0.split(separator: ",")[0] }
                == ["ann@bad.test", "cat@bad.test", "zoe@bad.test"])

        let maildir = try await SalvoBinary.run(["bounces", "import", Self.fixtures + "/postfix-maildir", "--db", "t.db"], in: dir)
        #expect(maildir.stdout.hasPrefix("read 2 messages: 2 hard bounces"), "\(maildir.stdout)\(maildir.stderr)")

        try "From a@b Wed Nov 25 14:36:19 2026\nContent-Type: multipart/report; report-type=delivery-status\n\nno boundary\n\nFrom a@b Wed Nov 25 14:36:19 2026\nSubject: Out of office\n\nBack Monday.\n"
            .write(toFile: dir + "/odd.mbox", atomically: true, encoding: .utf8)
        let odd = try await SalvoBinary.run(["bounces", "import", "odd.mbox", "--db", "t.db"], in: dir)
        #expect(odd.status == 0)
        #expect(odd.stdout == "read 2 messages: 0 hard bounces, 0 soft, 0 complaints, 0 unsubscribes, 1 not bounces, 1 malformed; 0 already processed; 0 unmatched\n")
        #expect(odd.stderr == "malformed: odd.mbox message 1: multipart/report without a boundary parameter\n")

        let missing = try await SalvoBinary.run(["bounces", "import", "nowhere.mbox", "--db", "t.db"], in: dir)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot read nowhere.mbox"))
    }

    /// The same Maildir fixtures served by Dovecot over POP3S: read, recorded, deleted
    /// from the server with --delete; a second run finds an empty mailbox.
    @Test func importsFromAPOP3SMailboxAndDeletesWhatItRecorded() async throws {
        let dir = try SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dovecot = try await DovecotPeer.start()
        defer { dovecot.stop() }
        let folder = Self.fixtures + "/postfix-maildir/new"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
            _ = try dovecot.deliver([UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))))
        }
        let noPassword = try await SalvoBinary.run(["bounces", "import", dovecot.url, "--ca-file", dovecot.caFile, "--db", "t.db"], in: dir)
        #expect(noPassword.status != 0)
        #expect(noPassword.stderr.contains("SALVO_POP3_PASSWORD"))

        let environment = ["SALVO_UNSUBSCRIBE_SECRET": "fixture-verp-secret", "SALVO_POP3_PASSWORD": dovecot.password]
        let first = try await SalvoBinary.run(["bounces", "import", dovecot.url, "--ca-file", dovecot.caFile, "--delete", "--db", "t.db"],
                                        in: dir, environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasPrefix("read 2 messages: 2 hard bounces"), "\(first.stdout)")
        #expect(try dovecot.messagesInMaildir().isEmpty)
        let again = try await SalvoBinary.run(["bounces", "import", dovecot.url, "--ca-file", dovecot.caFile, "--db", "t.db"],
                                        in: dir, environment: environment)
        #expect(again.stdout.hasPrefix("read 0 messages"), "\(again.stdout)\(again.stderr)")

        let wrong = try await SalvoBinary.run(["bounces", "import", dovecot.url, "--ca-file", dovecot.caFile, "--db", "t.db"],
                                        in: dir, environment: ["SALVO_POP3_PASSWORD": "not-it"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("login failed"), "\(wrong.stderr)")
    }

    /// The mailto of a message `salvo send` delivered, answered as a mail client would
    /// (from another address of the recipient's), and a copy with an altered token:
    /// `bounces import` unsubscribes the token's recipient and refuses the copy.
    @Test func importsAnUnsubscribeMailForTheTokensRecipient() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("\nunsubscribe:\n", "\nunsubscribe:\n  mailto: Unsubscribe <unsubscribe@shop.example>\n"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir)
        #expect(sent.status == 0, "\(sent.stderr)")
        let yuki = try #require(try sink.transactions().first { $0.rcptArgs == ["<yuki.tanaka@example.net>"] })
        let target = try #require(MailtoTarget(message: yuki.message))
        #expect(target.address == "unsubscribe@shop.example")
        #expect(target.subject.hasPrefix("unsubscribe 4.") && !target.subject.contains("yuki"))

        let replies = target.reply(from: "Yuki <yuki@home.example>", messageID: "r1@home.example")
            + "\nFrom x@y Wed Dec  2 00:00:00 2026\n"
            + target.tampered().reply(from: "mallory@example.org", messageID: "r2@example.org")
        try ("From x@y Wed Dec  2 00:00:00 2026\n" + replies).write(toFile: dir + "/replies.mbox", atomically: true, encoding: .utf8)
        let imported = try await SalvoBinary.run(["bounces", "import", "replies.mbox"], in: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout == "read 2 messages: 0 hard bounces, 0 soft, 0 complaints, 1 unsubscribe, 0 not bounces, 1 refused unsubscribe; 0 already processed; 0 unmatched\n")
        #expect(imported.stderr == "unsubscribe refused: replies.mbox message 2: its unsubscribe token is forged, altered or truncated: nobody unsubscribed\n")
        // Like a one-click unsubscribe, the mailto one is from the campaign's list.
        let list = try await SalvoBinary.run(["suppress", "list", "--list", "customers"], in: dir)
        #expect(list.stdout.split(separator: "\n").filter { $0.contains(",unsubscribe,") }.map { $0.split(separator: ",")[0] }
                == ["yuki.tanaka@example.net"], "\(list.stdout)")
        #expect(try await SalvoBinary.run(["status", "welcome"], in: dir).stdout.contains("unsubscribes: 1 (one-click 0, page 0, mail 1)"))
    }
}
