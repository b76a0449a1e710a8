import NIOCore
import NIOPosix
import SMTP
import TestPeers
import Testing

/// `SMTPConnection` against the hostile peer (Tests/peers/hostile_smtp.py) on loopback,
/// one misbehaviour per test: each asserts the error the client raised, what it says
/// about the message, and what the peer saw. Time limits are short (1 s) so that a
/// deadline that holds ends the test quickly; none of them measures elapsed time, and
/// the hang guard is the peer's own session limit, far above them.
@Suite(.serialized) struct HostilePeerTests {
    static let helo = "client.salvo.test"

    static func configuration(tls: SMTPConfiguration.TLSPolicy = .none, credentials: SMTPCredentials? = nil,
                              allowPlaintextAuth: Bool = false, _ adjust: (inout SMTPTimeouts) -> Void = { _ in }) -> SMTPConfiguration {
        var timeouts = SMTPTimeouts.uniform(.seconds(30))
        adjust(&timeouts)
        return SMTPConfiguration(heloName: helo, tls: tls, certificateVerification: .verify,
                                 credentials: credentials, allowPlaintextAuth: allowPlaintextAuth, timeouts: timeouts)
    }

    static func transaction(_ recipients: [String]) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: recipients,
                        message: ByteBuffer(string: "From: news@shop.test\r\nSubject: hostile\r\n\r\nbody line\r\n"))
    }

    /// The SMTPError `body` throws; an issue when it throws nothing or something else.
    static func error(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> SMTPError? {
        do {
            try await body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let error as SMTPError {
            return error
        } catch {
            Issue.record("not an SMTPError: \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// Connects to `peer` and sends one transaction that must fail: the connection and
    /// its error.
    static func failedTransaction(_ peer: HostileSMTPPeer, _ recipients: [String], _ configuration: SMTPConfiguration,
                                  sourceLocation: SourceLocation = #_sourceLocation) async throws -> (SMTPConnection, SMTPError) {
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: configuration)
        let error = try #require(await Self.error({ _ = try await connection.send(transaction(recipients)) }, sourceLocation: sourceLocation),
                                 sourceLocation: sourceLocation)
        return (connection, error)
    }

    static func start(_ mode: String, _ arguments: [String] = []) async throws -> HostileSMTPPeer {
        try await HostileSMTPPeer.start(mode: mode, ["--session-limit", "60"] + arguments)
    }

    // MARK: Deadlines for the whole reply

    /// The greeting comes one byte every half second, so no byte is ever a second late:
    /// a deadline that each byte moved would never pass. The whole greeting is due in 1 s.
    ///
    /// The connection runs on an event loop of its own and its tasks on a thread of their
    /// own, so no other test's work on the shared loop or the shared pool can delay its
    /// deadline or its hang-up (in full runs the peer saw the whole greeting out before
    /// the client left; alone the test never did).
    @Test func aDrippedGreetingIsCutOffAtItsDeadline() async throws {
        // The peer's greeting takes over two minutes to drip: the session limit lets it
        // finish, so a client that never hung up would be seen doing so.
        let peer = try await Self.start("drip", ["--drip-interval", "0.5", "--session-limit", "180"])
        defer { peer.stop() }
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let port = peer.port
        let error = try #require(try await DedicatedThreadExecutor.run(name: "dripped greeting") {
            await Self.error {
                _ = try await SMTPConnection.connect(host: "127.0.0.1", port: port,
                                                     configuration: Self.configuration { $0.greeting = .seconds(1) },
                                                     eventLoopGroup: loop)
            }
        })
        try await loop.shutdownGracefully()
        #expect(error.code == .replyTimeout, "\(error)")
        #expect(error.detail?.contains("greeting") == true, "\(error)")
        #expect(error.scope == .connection)
        try await peer.waitFor("the client hanging up") { $0.contains { $0.event == "disconnect" } }
        #expect(try peer.commands("EHLO").isEmpty)
        // Cut off mid-greeting: the peer never finished writing it.
        #expect(try !peer.events().contains { $0.event == "reply" })
    }

    @Test func aServerThatNeverGreetsIsLeftAtTheGreetingDeadline() async throws {
        for mode in ["never-greet", "accept-no-read"] {
            let peer = try await Self.start(mode)
            defer { peer.stop() }
            let error = try #require(await Self.error {
                _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port,
                                                     configuration: Self.configuration { $0.greeting = .seconds(1) })
            })
            #expect(error.code == .replyTimeout, "\(mode): \(error)")
            #expect(error.command == nil)
            #expect(try peer.connections() == 1)
        }
    }

    /// MAIL is answered, the RCPT replies never come: the RCPT deadline ends it, before
    /// any content, so the message is not in doubt.
    @Test func aStallAfterMAILEndsAtTheRCPTDeadlineBeforeContent() async throws {
        let peer = try await Self.start("stall-after-mail")
        defer { peer.stop() }
        let (connection, error) = try await Self.failedTransaction(peer, ["a@x.test"], Self.configuration { $0.rcpt = .seconds(1) })
        #expect(error.code == .replyTimeout, "\(error)")
        #expect(error.detail?.contains("rcpt") == true, "\(error)")
        #expect(!error.contentMayHaveReachedServer)
        #expect(!connection.isUsable)
        #expect(try peer.commands("RCPT") == ["RCPT TO:<a@x.test>"])
        #expect(try peer.messages().isEmpty)
    }

    // MARK: Replies matched to their commands

    @Test func data250IsAProtocolViolationAndNoContentIsSent() async throws {
        let peer = try await Self.start("data-250")
        defer { peer.stop() }
        let (_, error) = try await Self.failedTransaction(peer, ["a@x.test", "b@x.test"], Self.configuration())
        #expect(error.code == .protocolViolation, "\(error)")
        #expect(error.command == "DATA")
        #expect(error.reply == nil && error.description.contains("server sent \"250 2.0.0 OK\""), "\(error)")
        #expect(!error.contentMayHaveReachedServer)
        #expect(error.scope == .connection)
        try await peer.waitFor("the client hanging up") { $0.contains { $0.event == "disconnect" } }
        #expect(try peer.messages().isEmpty)
        #expect(try !peer.events().contains { $0.event == "line" && $0.text == "Subject: hostile" }, "content was sent")
    }

    @Test func data554RefusesTheMessageForEveryRecipientAndKeepsTheSession() async throws {
        let peer = try await Self.start("data-554")
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration())
        let result = try await connection.send(Self.transaction(["a@x.test", "b@x.test"]))
        #expect(result.recipients.map(\.status) == [.permanentFailure, .permanentFailure])
        #expect(result.recipients.allSatisfy { $0.reply.code == 554 && $0.rcptReply?.code == 250 })
        #expect(connection.isUsable)
        await connection.quit()
        #expect(try peer.commands("RSET").count == 1)
        #expect(try peer.commands("QUIT").count == 1)
        #expect(try peer.messages().isEmpty)
    }

    /// MAIL answered twice: read in order, good@ would get MAIL's second 250 and bad-@
    /// good@'s 250 — a bad address recorded sent, a good one refused. The connection is
    /// dropped instead and no recipient gets a reply.
    @Test func oneReplyTooManyDropsTheConnectionAndAttributesNothing() async throws {
        let peer = try await Self.start("extra-reply")
        defer { peer.stop() }
        let (connection, error) = try await Self.failedTransaction(peer, ["good@x.test", "bad-1@x.test"], Self.configuration())
        #expect(error.code == .protocolViolation, "\(error)")
        #expect(!error.contentMayHaveReachedServer)
        #expect(!connection.isUsable)
        #expect(try peer.messages().isEmpty)
        #expect(try peer.commands("RCPT") == ["RCPT TO:<good@x.test>", "RCPT TO:<bad-1@x.test>"])
    }

    @Test func aMissingReplyDropsTheConnectionAndAttributesNothing() async throws {
        let peer = try await Self.start("missing-reply")
        defer { peer.stop() }
        let (_, error) = try await Self.failedTransaction(peer, ["a@x.test", "b@x.test"], Self.configuration())
        #expect(error.code == .protocolViolation, "\(error)")
        #expect(error.detail?.contains("354 End data") == true, "the 354 landed where b@'s reply was due: \(error)")
        #expect(!error.contentMayHaveReachedServer)
        #expect(try peer.messages().isEmpty)
    }

    // MARK: Sender-side failures that say so

    @Test func auth535IsTheSendersAndNamesServerCommandAndReply() async throws {
        let peer = try await Self.start("auth-535")
        defer { peer.stop() }
        let error = try #require(await Self.error {
            _ = try await SMTPConnection.connect(
                host: "127.0.0.1", port: peer.port,
                configuration: Self.configuration(credentials: .init(username: "news", password: "secret-pw"), allowPlaintextAuth: true))
        })
        #expect(error.code == .authenticationFailed)
        #expect(error.scope == .sender)
        #expect(error.command == "AUTH PLAIN ****")
        #expect(error.reply?.enhancedCode?.description == "5.7.8")
        let text = error.description
        #expect(text.contains("127.0.0.1:\(peer.port)") && text.contains("AUTH PLAIN ****") && text.contains("535 5.7.8"), "\(text)")
        #expect(!text.contains("secret-pw"))
        #expect(try peer.logins() == 1)
    }

    @Test func credentialsAreNotSentInClearText() async throws {
        let peer = try await Self.start("auth-535")
        defer { peer.stop() }
        let error = try #require(await Self.error {
            _ = try await SMTPConnection.connect(
                host: "127.0.0.1", port: peer.port,
                configuration: Self.configuration(tls: .opportunistic, credentials: .init(username: "news", password: "pw")))
        })
        #expect(error.code == .plaintextAuthRefused)
        #expect(error.scope == .sender)
        #expect(error.description.contains("127.0.0.1:\(peer.port)") && error.description.contains("no STARTTLS"), "\(error)")
        #expect(try peer.commands("AUTH").isEmpty)
        #expect(try peer.logins() == 0)
    }

    /// EHLO and HELO both refused with 504 5.5.2 (a non-FQDN name): the sender's fault.
    @Test func heloRefusedAfterEHLORefusedIsTheSenders() async throws {
        let peer = try await Self.start("ehlo-504")
        defer { peer.stop() }
        let error = try #require(await Self.error {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration())
        })
        #expect(error.code == .heloRejected)
        #expect(error.scope == .sender)
        #expect(error.command == "HELO \(Self.helo)")
        #expect(error.reply?.code == 504 && error.reply?.enhancedCode?.description == "5.5.2")
        #expect(error.description.contains("127.0.0.1:\(peer.port)") && error.description.contains("504 5.5.2"), "\(error)")
        #expect(try peer.commands("EHLO") == ["EHLO \(Self.helo)"])
        #expect(try peer.commands("HELO") == ["HELO \(Self.helo)"])
        #expect(try peer.commands("MAIL").isEmpty)
    }

    @Test func tlsRequiredButNotOfferedSendsNothingMore() async throws {
        let peer = try await Self.start("normal")
        defer { peer.stop() }
        let error = try #require(await Self.error {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .required))
        })
        #expect(error.code == .tlsRequiredButNotOffered)
        #expect(error.scope == .site)
        #expect(error.scope(towardsRelay: true) == .sender)
        #expect(error.command == "EHLO \(Self.helo)")
        #expect(try peer.commands("STARTTLS").isEmpty)
        #expect(try peer.commands("MAIL").isEmpty)
    }

    @Test func greetings421And554AreTheSites() async throws {
        for (mode, code) in [("greet-421", SMTPError.Code.serviceNotAvailable), ("greet-554", .greetingRejected)] {
            let peer = try await Self.start(mode)
            defer { peer.stop() }
            let error = try #require(await Self.error {
                _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration())
            })
            #expect(error.code == code, "\(mode): \(error)")
            #expect(error.scope == .site)
            #expect(try peer.commands("EHLO").isEmpty)
        }
    }
}
