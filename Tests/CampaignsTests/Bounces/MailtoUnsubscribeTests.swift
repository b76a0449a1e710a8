@testable import Campaigns
import Foundation
import MailMessage
import Testing
import TestPeers

/// The List-Unsubscribe mailto end to end: a campaign sent through smtp-sink, each
/// recipient's mailto read from the message the sink received, the mail a client
/// writes from it put in an mbox file, a Maildir folder and Dovecot's POP3S mailbox,
/// and `BounceImport` unsubscribing the token's recipient through the store.
@Suite(.serialized) struct MailtoUnsubscribeTests {
    static let secret = "mailto-unsubscribe-secret-of-32-bytes-at-least"
    static let mailto = "unsub@shop.example"

    @Test func theTokensRecipientIsUnsubscribedAndATamperedTokenNobody() async throws {
        let fixture = try DeliveryFixture(csv: "email,name\nann@ok.test,Ann\nbob@ok.test,Bob\ncat@ok.test,Cat\ndan@ok.test,Dan\n")
        defer { fixture.remove() }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        var configuration = SalvoConfiguration()
        configuration.helo = "mailto.test"
        configuration.delivery.routes = ["ok.test": .init(host: "127.0.0.1", port: sink.port)]
        configuration.unsubscribe.mailto = "Shop unsubscribe <\(Self.mailto)>"
        let environment = ["SALVO_UNSUBSCRIBE_SECRET": Self.secret]
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: environment)
        let summary = try await fixture.send(configuration: configuration, composer: composer, owner: "mailto-test")
        #expect(summary.sent == 4, "\(summary)")

        // What each recipient's mail client was given.
        var subjects: [String: String] = [:]
        for transaction in try sink.transactions() {
            let email = String(transaction.rcptArgs[0].dropFirst().dropLast())
            let target = try #require(MailtoTarget(message: transaction.message))
            #expect(target.address == Self.mailto)
            subjects[email] = target.subject
            let request = try #require(UnsubscribeMailto.request(inSubject: target.subject))
            let token = try #require(request.token)
            #expect(token.hasPrefix("4.") && !token.contains("ok.test"))
            #expect(UnsubscribeToken.verify(token, campaign: fixture.campaign, recipient: email, secret: Array(Self.secret.utf8)))
        }
        #expect(subjects.count == 4)

        let importer = BounceImport(verp: nil, unsubscribeMailto: configuration.unsubscribeMailtoAddress(),
                                    unsubscribeSecret: try configuration.unsubscribeSecret(environment: environment))
        let store = fixture.store

        // Ann writes from another address of hers; bob's token was altered on the way; cat
        // sends "unsubscribe" without a token from the address Salvo mailed; a stranger too.
        let bobSubject = try #require(subjects["bob@ok.test"])
        let replies = [
            Self.reply(1, from: "Ann Elsewhere <ann.private@home.test>", subject: try #require(subjects["ann@ok.test"])),
            Self.reply(2, from: "bob@ok.test", subject: MailtoTarget(address: Self.mailto, subject: bobSubject).tampered().subject),
            Self.reply(3, from: "Cat <cat@ok.test>", subject: "unsubscribe"),
            Self.reply(4, from: "someone@else.test", subject: "unsubscribe"),
        ]
        let mbox = fixture.folder + "/replies.mbox"
        try replies.map { "From sender@home.test Wed Dec  2 00:00:00 2026\n" + $0 + "\n" }.joined()
            .write(toFile: mbox, atomically: true, encoding: .utf8)
        var refused: [String] = []
        let first = try await importer.run(MboxFile(path: mbox), into: store, onRefused: { refused.append($0.description) })
        #expect(first.summary == "read 4 messages: 0 hard bounces, 0 soft, 0 complaints, 2 unsubscribes, 0 not bounces, 2 refused unsubscribes; 0 already processed; 0 unmatched")
        #expect(refused == [
            "replies.mbox message 2: its unsubscribe token is forged, altered or truncated: nobody unsubscribed",
            "replies.mbox message 4: an unsubscribe mail without a token from someone@else.test, an address Salvo has not mailed",
        ])
        #expect(try store.unsubscribes().map { [$0.email, $0.campaign, $0.channel] }
                == [["ann@ok.test", "spring", "mailto"], ["cat@ok.test", "spring", "mailto"]])
        #expect(try Self.unsubscribedFromList(store) == ["ann@ok.test", "cat@ok.test"])
        // The tampered token and the From addresses wrote nothing.
        for address in ["bob@ok.test", "ann.private@home.test", "someone@else.test"] {
            #expect(try !store.isSuppressed(address) && !Self.unsubscribedFromList(store).contains(address), "\(address)")
        }
        let again = try await importer.run(MboxFile(path: mbox), into: store)
        #expect(again.summary == "read 4 messages: 0 hard bounces, 0 soft, 0 complaints, 0 unsubscribes, 0 not bounces; 4 already processed; 0 unmatched")

        // Bob's own reply, untouched, in a Maildir.
        let maildir = fixture.folder + "/Maildir"
        for sub in ["new", "cur", "tmp"] { try FileManager.default.createDirectory(atPath: maildir + "/" + sub, withIntermediateDirectories: true) }
        try Self.reply(5, from: "bob@ok.test", subject: bobSubject).write(toFile: maildir + "/new/1796169600.M1P1.home.test", atomically: true, encoding: .utf8)
        let fromMaildir = try await importer.run(MaildirFolder(path: maildir), into: store)
        #expect(fromMaildir.unsubscribes == 1 && fromMaildir.refusedUnsubscribes.isEmpty, "\(fromMaildir.summary)")
        #expect(try Self.unsubscribedFromList(store).contains("bob@ok.test"))

        // Dan's, read from Dovecot over POP3S and deleted once recorded.
        let dovecot = try await DovecotPeer.start()
        defer { dovecot.stop() }
        _ = try dovecot.deliver(Array(Self.reply(6, from: "Dan <dan@ok.test>", subject: try #require(subjects["dan@ok.test"])).utf8))
        let pop3 = try BounceSourceLocation(dovecot.url).source(environment: ["SALVO_POP3_PASSWORD": dovecot.password],
                                                                caFile: dovecot.caFile, deleteProcessed: true)
        let fromPOP3 = try await importer.run(pop3, into: store)
        #expect(fromPOP3.summary == "read 1 messages: 0 hard bounces, 0 soft, 0 complaints, 1 unsubscribe, 0 not bounces; 0 already processed; 0 unmatched")
        #expect(try dovecot.messagesInMaildir().isEmpty)
        #expect(try store.unsubscribes().map(\.email) == ["ann@ok.test", "cat@ok.test", "bob@ok.test", "dan@ok.test"])
        #expect(try Self.unsubscribedFromList(store) == ["ann@ok.test", "bob@ok.test", "cat@ok.test", "dan@ok.test"])
    }

    /// The addresses unsubscribed from a list: like a one-click unsubscribe, a mailto one
    /// is from the campaign's list, not from everything.
    static func unsubscribedFromList(_ store: SalvoStore) throws -> [String] {
        try store.listSuppressions().filter { $0.reason == "unsubscribe" }.map(\.email).sorted()
    }

    /// Without a secret a token cannot be checked, so it unsubscribes nobody.
    @Test func aTokenIsNeverTrustedWithoutTheSecret() async throws {
        let fixture = try DeliveryFixture(csv: "email,name\nann@ok.test,Ann\n")
        defer { fixture.remove() }
        let token = UnsubscribeToken.make(campaign: fixture.campaign, recipient: "ann@ok.test", secret: Array(Self.secret.utf8))
        let mbox = fixture.folder + "/one.eml"
        try Self.reply(1, from: "ann@ok.test", subject: "unsubscribe \(token)").write(toFile: mbox, atomically: true, encoding: .utf8)
        let report = try await BounceImport(verp: nil, unsubscribeMailto: Self.mailto).run(MboxFile(path: mbox), into: fixture.store)
        #expect(report.refusedUnsubscribes.map(\.reason) == ["its unsubscribe token cannot be checked: no usable unsubscribe secret (unsubscribe.secret_env or unsubscribe.secret_file)"])
        #expect(try fixture.store.unsubscribes().isEmpty)
        #expect(try !fixture.store.isSuppressed("ann@ok.test"))
    }

    /// The mail a client writes for `mailto:unsub@shop.example?subject=…`.
    static func reply(_ number: Int, from: String, subject: String) -> String {
        MailtoTarget(address: mailto, subject: subject).reply(from: from, messageID: "reply-\(number)@home.test")
    }
}
