import Foundation
import Testing
import TestPeers
@testable import POP3

/// The mailbox reader against Dovecot's POP3S server on 127.0.0.1.
@Suite(.serialized) struct POP3MailboxPeerTests {
    /// Three messages as a Maildir holds them (LF line ends), with lines that POP3 has to
    /// dot-stuff, an empty line, trailing spaces and 8-bit bytes.
    static let messages: [[UInt8]] = [
        Array("From: mailer-daemon@mx.example\nTo: bounces@shop.example\nSubject: one\n\nline\n.starts with a dot\n..two dots\n.\nend\n".utf8),
        Array("From: postmaster@mx.example\nSubject: two\nContent-Type: text/plain; charset=utf-8\n\nDélivrance échouée   \n\n\ntrailing blank lines above\n".utf8),
        Array("Subject: three\n\n".utf8) + Array(repeating: Array("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n".utf8), count: 2000).flatMap { $0 },
    ]

    /// What POP3 sends for a Maildir file: LF line ends become CRLF.
    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { $0 == UInt8(ascii: "\n") ? [UInt8(ascii: "\r"), UInt8(ascii: "\n")] : [$0] }
    }

    static func subject(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\r\n").first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) } ?? ""
    }

    @Test func readsEveryMessageByteExactWithStableIDs() async throws {
        let dovecot = try await DovecotPeer.start()
        defer { dovecot.stop() }
        for message in Self.messages { try dovecot.deliver(message) }
        let mailbox = try POP3Mailbox(url: dovecot.url, password: dovecot.password, caFile: dovecot.caFile)

        var read: [(uid: String, bytes: [UInt8])] = []
        let summary = try await mailbox.forEachMessage { message in
            read.append((message.uid, message.bytes))
            return .keep
        }
        #expect(summary == POP3ReadSummary(read: 3, deleted: 0))
        #expect(read.map(\.bytes).sorted { $0.lexicographicallyPrecedes($1) }
                == Self.messages.map(Self.crlf).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(Set(read.map(\.uid)).count == 3)

        // A second session: the same ids for the same messages, nothing deleted.
        var again: [String: [UInt8]] = [:]
        try await mailbox.forEachMessage { message in
            again[message.uid] = message.bytes
            return .keep
        }
        #expect(again == Dictionary(uniqueKeysWithValues: read.map { ($0.uid, $0.bytes) }))
        #expect(try dovecot.messagesInMaildir().count == 3)
    }

    @Test func deletesOnlyWhatTheCallerConfirmed() async throws {
        let dovecot = try await DovecotPeer.start()
        defer { dovecot.stop() }
        for message in Self.messages { try dovecot.deliver(message) }
        let mailbox = try POP3Mailbox(url: dovecot.url, password: dovecot.password, caFile: dovecot.caFile)

        struct CommitFailed: Error {}
        var uids: [String: String] = [:]
        // "one" is committed, "two" is kept, committing "three" fails: the session still
        // ends with QUIT so that "one" is deleted, and the importer's error comes back.
        await #expect(throws: CommitFailed.self) {
            try await mailbox.forEachMessage { message in
                let subject = Self.subject(message.bytes)
                uids[subject] = message.uid
                switch subject {
                case "one": return .delete
                case "three": throw CommitFailed()
                default: return .keep
                }
            }
        }
        #expect(Set(uids.keys) == ["one", "two", "three"])

        var left: [String: String] = [:]
        let summary = try await mailbox.forEachMessage { message in
            left[Self.subject(message.bytes)] = message.uid
            return .keep
        }
        #expect(summary.read == 2)
        #expect(left == ["two": uids["two"]!, "three": uids["three"]!])
        #expect(try dovecot.messagesInMaildir().map(Self.crlf).map(Self.subject).sorted() == ["three", "two"])

        // withSession: decide by id before retrieving, as an importer that already
        // committed a message in a session cut short does.
        try await mailbox.withSession { session in
            #expect(session.messages.map(\.uid).sorted() == [uids["three"]!, uids["two"]!].sorted())
            for entry in session.messages where entry.uid == uids["two"] {
                #expect(entry.octets == Self.crlf(Self.messages[1]).count)
                try await session.delete(entry)
            }
        }
        #expect(try dovecot.messagesInMaildir().map(Self.crlf).map(Self.subject) == ["three"])
    }

    @Test func wrongPasswordIsAClearError() async throws {
        let dovecot = try await DovecotPeer.start()
        defer { dovecot.stop() }
        let mailbox = try POP3Mailbox(url: dovecot.url, password: "wrong-password", caFile: dovecot.caFile)
        let error = await #expect(throws: POP3Error.self) {
            try await mailbox.forEachMessage { _ in .keep }
        }
        #expect(error?.code == .authenticationFailed)
        let description = error?.description ?? ""
        #expect(description.hasPrefix("pop3s 127.0.0.1:\(dovecot.port): login failed: after PASS ****: server said \"-ERR"))
        #expect(description.contains("Authentication failed"))
        #expect(!description.contains("wrong-password"))
    }

    @Test func untrustedCertificateIsRefusedUnlessItsCAIsGiven() async throws {
        let dovecot = try await DovecotPeer.start()
        defer { dovecot.stop() }
        try dovecot.deliver(Self.messages[0])

        // The system trust store does not know the test CA.
        let system = try POP3Mailbox(url: dovecot.url, password: dovecot.password)
        let error = await #expect(throws: POP3Error.self) {
            try await system.forEachMessage { _ in .keep }
        }
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.description.contains("the server's certificate did not verify against the system trust store") == true)

        let trusted = try POP3Mailbox(url: dovecot.url, password: dovecot.password, caFile: dovecot.caFile)
        #expect(try await trusted.forEachMessage { _ in .keep }.read == 1)
    }

    @Test func certificateForAnotherNameIsRefused() async throws {
        let certificates = try TestCertificates.make(subjectAltNames: "DNS:mail.other.example")
        defer { certificates.remove() }
        let dovecot = try await DovecotPeer.start(certificates: certificates)
        defer { dovecot.stop() }
        let mailbox = try POP3Mailbox(url: dovecot.url, password: dovecot.password, caFile: dovecot.caFile)
        let error = await #expect(throws: POP3Error.self) {
            try await mailbox.forEachMessage { _ in .keep }
        }
        #expect(error?.code == .tlsHandshakeFailed)
        #expect(error?.description.contains("the server's certificate does not name 127.0.0.1") == true)
    }

    @Test func nothingListeningIsAConnectError() async throws {
        let port = try TestPeers.freePort()
        let mailbox = try POP3Mailbox(url: "pop3s://u@127.0.0.1:\(port)", password: "p")
        let error = await #expect(throws: POP3Error.self) {
            try await mailbox.forEachMessage { _ in .keep }
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.description.hasPrefix("pop3s 127.0.0.1:\(port): cannot connect") == true)
    }
}
