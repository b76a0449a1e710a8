import NIOCore
import Testing
@testable import SMTP

/// The session state machine as transcripts: each reply in, the action out. No sockets.
@Suite struct SessionStateMachineTests {
    typealias Machine = SMTPSessionStateMachine

    static func reply(_ text: String) -> SMTPReply {
        var parser = SMTPReplyParser()
        var buffer = ByteBuffer(string: text.split(separator: "|").joined(separator: "\r\n") + "\r\n")
        return try! parser.parse(&buffer)!
    }

    let greeting = reply("220 mx.test ESMTP")
    let ehloPipelining = reply("250-mx.test|250-PIPELINING|250-SIZE 1000000|250-8BITMIME|250-STARTTLS|250 AUTH PLAIN LOGIN")
    let ehloPlain = reply("250-mx.test|250 8BITMIME")
    let ok = reply("250 2.0.0 Ok")

    func machine(tls: SMTPConfiguration.TLSPolicy = .none, credentials: SMTPCredentials? = nil,
                 allowPlaintextAuth: Bool = false, tlsActive: Bool = false) -> Machine {
        Machine(configuration: .init(heloName: "client.test", tls: tls, credentials: credentials,
                                     allowPlaintextAuth: allowPlaintextAuth), tlsActive: tlsActive)
    }

    func readyMachine(ehlo: SMTPReply) -> Machine {
        var machine = machine()
        _ = machine.replyReceived(greeting)
        _ = machine.replyReceived(ehlo)
        return machine
    }

    /// A pipelined one-recipient transaction whose DATA was just answered with 354.
    func machineAfter354(holdingContent: Bool) -> Machine {
        var machine = readyMachine(ehlo: ehloPipelining)
        _ = machine.startTransaction(transaction(["a@x.test"]), holdingContent: holdingContent)
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(Self.reply("354 go"))
        return machine
    }

    func transaction(_ recipients: [String] = ["a@x.test", "b@x.test"]) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: recipients, message: ByteBuffer(string: "Subject: hi\r\n\r\nbody\r\n"))
    }

    @Test func greetingThenEHLOThenReady() {
        var machine = machine()
        #expect(machine.wait == .greeting)
        #expect(machine.replyReceived(greeting) == .send([.ehlo("client.test")]))
        #expect(machine.wait == .ehlo)
        guard case .sessionReady(let capabilities) = machine.replyReceived(ehloPipelining) else {
            Issue.record("not ready")
            return
        }
        #expect(capabilities.pipelining && capabilities.startTLS && capabilities.eightBitMIME)
        #expect(capabilities.size == 1_000_000)
        #expect(capabilities.authMechanisms == ["PLAIN", "LOGIN"])
        #expect(machine.isReady)
        #expect(machine.wait == nil)
    }

    @Test func greetings421And554FailTheSession() {
        var busy = machine()
        guard case .fail(let error) = busy.replyReceived(Self.reply("421 4.3.2 too busy")) else { Issue.record("no failure"); return }
        #expect(error.code == .serviceNotAvailable)
        #expect(busy.isClosed)

        var refused = machine()
        guard case .fail(let refusal) = refused.replyReceived(Self.reply("554 5.7.1 go away")) else { Issue.record("no failure"); return }
        #expect(refusal.code == .greetingRejected)
        #expect(refusal.reply?.code == 554)
    }

    @Test func ehloRefusedFallsBackToHELO() {
        var machine = machine()
        _ = machine.replyReceived(greeting)
        #expect(machine.replyReceived(Self.reply("502 5.5.2 command not recognized")) == .send([.helo("client.test")]))
        #expect(machine.replyReceived(Self.reply("250 old.test")) == .sessionReady(.helo(serverName: "old.test")))
        // Without PIPELINING, one command at a time.
        #expect(machine.startTransaction(transaction(["a@x.test"])) == .send([.mail(from: "news@shop.test", size: nil, eightBitMIME: false, smtpUTF8: false)]))
    }

    @Test func pipelinedTransactionSendsOneGroupAndMatchesRepliesInOrder() {
        var machine = readyMachine(ehlo: ehloPipelining)
        let transaction = transaction(["a@x.test", "temp@x.test", "perm@x.test"])
        #expect(machine.startTransaction(transaction) == .send([
            .mail(from: "news@shop.test", size: 21, eightBitMIME: true, smtpUTF8: false),
            .rcpt(to: "a@x.test"), .rcpt(to: "temp@x.test"), .rcpt(to: "perm@x.test"), .data,
        ]))
        #expect(machine.wait == .mail)
        #expect(machine.replyReceived(Self.reply("250 2.1.0 Ok")) == .none)
        #expect(machine.wait == .rcpt)
        #expect(machine.replyReceived(Self.reply("250 2.1.5 Ok")) == .none)
        #expect(machine.replyReceived(Self.reply("451 4.2.0 busy")) == .none)
        #expect(machine.replyReceived(Self.reply("550 5.1.1 unknown")) == .none)
        #expect(machine.wait == .data)
        #expect(machine.replyReceived(Self.reply("354 go ahead")) == .sendMessage(transaction.message))
        #expect(machine.wait == .dataBlock)
        #expect(machine.messageWritten() == .none)
        #expect(machine.wait == .endOfData)
        guard case .transactionCompleted(let result, closeConnection: false) = machine.replyReceived(Self.reply("250 2.0.0 queued as 1")) else {
            Issue.record("not completed"); return
        }
        #expect(result.recipients.map(\.status) == [.accepted, .temporaryFailure, .permanentFailure])
        #expect(result.recipients.map(\.reply.code) == [250, 451, 550])
        #expect(result.recipients[2].reply.enhancedCode?.description == "5.1.1")
        #expect(result.dataReply?.text == "queued as 1")
        #expect(machine.isReady)
        #expect(machine.completedTransactions == 1)
    }

    @Test func everyRecipientRefusedMeansRSETAndNoMessage() {
        var machine = readyMachine(ehlo: ehloPipelining)
        _ = machine.startTransaction(transaction())
        _ = machine.replyReceived(Self.reply("250 Ok"))
        _ = machine.replyReceived(Self.reply("550 5.1.1 no"))
        _ = machine.replyReceived(Self.reply("550 5.1.1 no"))
        #expect(machine.replyReceived(Self.reply("554 5.5.1 no valid recipients")) == .send([.rset]))
        guard case .transactionCompleted(let result, closeConnection: false) = machine.replyReceived(ok) else {
            Issue.record("not completed"); return
        }
        #expect(result.recipients.allSatisfy { $0.status == .permanentFailure })
        #expect(result.dataReply?.code == 554)
        #expect(machine.isReady)
    }

    @Test func a354AfterEveryRecipientFailedGetsAnEmptyMessage() {
        var machine = readyMachine(ehlo: ehloPipelining)
        _ = machine.startTransaction(transaction(["a@x.test"]))
        _ = machine.replyReceived(Self.reply("250 Ok"))
        _ = machine.replyReceived(Self.reply("450 4.2.0 later"))
        #expect(machine.replyReceived(Self.reply("354 go")) == .sendMessage(ByteBuffer()))
        _ = machine.messageWritten()
        guard case .transactionCompleted(let result, closeConnection: false) = machine.replyReceived(Self.reply("554 no rcpt")) else {
            Issue.record("not completed"); return
        }
        #expect(result.recipients[0].status == .temporaryFailure)
        #expect(result.recipients[0].reply.code == 450)
    }

    @Test func withoutPipeliningOneCommandAtATime() {
        var machine = readyMachine(ehlo: ehloPlain)
        let transaction = transaction()
        #expect(machine.startTransaction(transaction) == .send([.mail(from: "news@shop.test", size: nil, eightBitMIME: true, smtpUTF8: false)]))
        #expect(machine.replyReceived(ok) == .send([.rcpt(to: "a@x.test")]))
        #expect(machine.replyReceived(Self.reply("550 5.1.1 unknown")) == .send([.rcpt(to: "b@x.test")]))
        #expect(machine.replyReceived(ok) == .send([.data]))
        #expect(machine.replyReceived(Self.reply("354 go")) == .sendMessage(transaction.message))
        _ = machine.messageWritten()
        guard case .transactionCompleted(let result, false) = machine.replyReceived(ok) else { Issue.record("not completed"); return }
        #expect(result.recipients.map(\.status) == [.permanentFailure, .accepted])
    }

    @Test func mailRefusedFailsEveryRecipientThenRSET() {
        var machine = readyMachine(ehlo: ehloPlain)
        _ = machine.startTransaction(transaction())
        #expect(machine.replyReceived(Self.reply("452 4.3.1 insufficient storage")) == .send([.rset]))
        guard case .transactionCompleted(let result, false) = machine.replyReceived(ok) else { Issue.record("not completed"); return }
        #expect(result.recipients.allSatisfy { $0.status == .temporaryFailure && $0.reply.code == 452 && $0.rcptReply == nil })
    }

    @Test func a421MidTransactionEndsItAndTheSession() {
        var machine = readyMachine(ehlo: ehloPipelining)
        _ = machine.startTransaction(transaction(["a@x.test", "b@x.test", "c@x.test"]))
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(ok)
        guard case .transactionCompleted(let result, closeConnection: true) = machine.replyReceived(Self.reply("421 4.3.2 shutting down")) else {
            Issue.record("not completed with close"); return
        }
        // a was accepted by RCPT but the message never went: everyone is temporary.
        #expect(result.recipients.map(\.status) == [.temporaryFailure, .temporaryFailure, .temporaryFailure])
        #expect(result.recipients.map(\.reply.code) == [421, 421, 421])
        #expect(machine.isClosed)
        #expect(machine.startTransaction(transaction()) == .rejectTransaction(SMTPError(.connectionNotUsable)))
    }

    @Test func heldContentWaitsForTheCallerAfterThe354() {
        var machine = readyMachine(ehlo: ehloPipelining)
        let message = transaction(["a@x.test"])
        _ = machine.startTransaction(message, holdingContent: true)
        #expect(machine.contentReleased() == .none)  // nothing is held before the 354
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(ok)
        #expect(machine.replyReceived(Self.reply("354 go")) == .awaitContentRelease)
        #expect(machine.isHoldingContent && machine.wait == .data)
        #expect(machine.contentReleased() == .sendMessage(message.message))
        #expect(!machine.isHoldingContent && machine.wait == .dataBlock)
        _ = machine.messageWritten()
        #expect(machine.wait == .endOfData)
        guard case .transactionCompleted(let result, false) = machine.replyReceived(ok) else { Issue.record("not completed"); return }
        #expect(result.recipients.map(\.status) == [.accepted])
    }

    @Test func withheldContentEndsTheSessionWithNothingSent() {
        var machine = machineAfter354(holdingContent: true)
        guard case .fail(let error) = machine.contentWithheld("cancelled") else { Issue.record("no failure"); return }
        #expect(error.code == .contentWithheld && machine.isClosed)
    }

    @Test func aConnectionLostWhileContentIsHeldIsNotInDoubt() {
        var machine = machineAfter354(holdingContent: true)
        guard case .fail(let error) = machine.connectionClosed() else { Issue.record("no failure"); return }
        #expect(error.code == .connectionClosed)
    }

    @Test func aReplyWhileContentIsHeldIsAProtocolViolationBeforeContent() {
        var machine = machineAfter354(holdingContent: true)
        guard case .fail(let error) = machine.replyReceived(ok) else { Issue.record("no failure"); return }
        #expect(error.code == .protocolViolation)
        #expect(!error.contentMayHaveReachedServer)
        #expect(error.scope == .connection)
    }

    @Test func a421BetweenTransactionsFailsTheSession() {
        var machine = readyMachine(ehlo: ehloPlain)
        guard case .fail(let error) = machine.replyReceived(Self.reply("421 4.4.2 idle too long")) else { Issue.record("no failure"); return }
        #expect(error.code == .serviceNotAvailable)
    }

    @Test func connectionLostAfterTheMessageIsUnknownDelivery() {
        var machine = machineAfter354(holdingContent: false)
        guard case .fail(let error) = machine.connectionClosed() else { Issue.record("no failure"); return }
        #expect(error.code == .connectionClosedAfterData)
    }

    @Test func startTLSThenNewEHLO() {
        var machine = machine(tls: .required)
        _ = machine.replyReceived(greeting)
        #expect(machine.replyReceived(ehloPipelining) == .send([.startTLS]))
        #expect(machine.replyReceived(Self.reply("220 2.0.0 Ready to start TLS"), unprocessedBytes: 0) == .startTLS)
        #expect(machine.wait == .tlsHandshake)
        #expect(machine.tlsHandshakeCompleted() == .send([.ehlo("client.test")]))
        #expect(machine.capabilities == nil)
        guard case .sessionReady = machine.replyReceived(ehloPipelining) else { Issue.record("not ready"); return }
        #expect(machine.isTLSActive)
    }

    @Test func bytesBufferedAfterStartTLSReplyAreAnInjection() {
        var machine = machine(tls: .opportunistic)
        _ = machine.replyReceived(greeting)
        _ = machine.replyReceived(ehloPipelining)
        guard case .fail(let error) = machine.replyReceived(Self.reply("220 Ready to start TLS"), unprocessedBytes: 17) else {
            Issue.record("injection accepted"); return
        }
        #expect(error.code == .unencryptedDataAfterStartTLS)
        #expect(error.command == "STARTTLS")
    }

    @Test func requiredTLSWithoutSTARTTLSIsNoDowngrade() {
        var machine = machine(tls: .required)
        _ = machine.replyReceived(greeting)
        guard case .fail(let error) = machine.replyReceived(ehloPlain) else { Issue.record("downgraded"); return }
        #expect(error.code == .tlsRequiredButNotOffered)
    }

    @Test func refusedSTARTTLSIsFatalOnlyWhenRequired() {
        var required = machine(tls: .required)
        _ = required.replyReceived(greeting)
        _ = required.replyReceived(ehloPipelining)
        guard case .fail(let error) = required.replyReceived(Self.reply("454 4.7.0 TLS not available")) else { Issue.record("downgraded"); return }
        #expect(error.code == .startTLSRefused)

        var opportunistic = machine(tls: .opportunistic)
        _ = opportunistic.replyReceived(greeting)
        _ = opportunistic.replyReceived(ehloPipelining)
        guard case .sessionReady = opportunistic.replyReceived(Self.reply("454 4.7.0 TLS not available")) else { Issue.record("not ready"); return }
        #expect(opportunistic.startTLSWasRefused)
        #expect(!opportunistic.isTLSActive)
    }

    @Test func authPlainOverTLS() {
        var machine = machine(tls: .implicit, credentials: .init(username: "user", password: "pass"), tlsActive: true)
        _ = machine.replyReceived(greeting)
        // base64("\0user\0pass")
        #expect(machine.replyReceived(ehloPipelining) == .send([.authPlain(initialResponse: "AHVzZXIAcGFzcw==")]))
        guard case .sessionReady = machine.replyReceived(Self.reply("235 2.7.0 Authentication successful")) else { Issue.record("not ready"); return }
    }

    @Test func authLoginWhenPlainIsNotOffered() {
        var machine = machine(tls: .implicit, credentials: .init(username: "user", password: "pass"), tlsActive: true)
        _ = machine.replyReceived(greeting)
        #expect(machine.replyReceived(Self.reply("250-mx.test|250 AUTH LOGIN")) == .send([.authLogin]))
        #expect(machine.replyReceived(Self.reply("334 VXNlcm5hbWU6")) == .send([.authResponse("dXNlcg==")]))
        #expect(machine.replyReceived(Self.reply("334 UGFzc3dvcmQ6")) == .send([.authResponse("cGFzcw==")]))
        guard case .fail(let error) = machine.replyReceived(Self.reply("535 5.7.8 bad credentials")) else { Issue.record("no failure"); return }
        #expect(error.code == .authenticationFailed)
        #expect(error.command == "****")
        #expect(!error.description.contains("cGFzcw=="))
    }

    @Test func authOnClearTextIsRefusedUnlessAllowed() {
        var refused = machine(tls: .opportunistic, credentials: .init(username: "u", password: "p"))
        _ = refused.replyReceived(greeting)
        guard case .fail(let error) = refused.replyReceived(Self.reply("250-mx.test|250 AUTH PLAIN")) else { Issue.record("sent credentials"); return }
        #expect(error.code == .plaintextAuthRefused)

        var allowed = machine(tls: .none, credentials: .init(username: "u", password: "p"), allowPlaintextAuth: true)
        _ = allowed.replyReceived(greeting)
        #expect(allowed.replyReceived(Self.reply("250-mx.test|250 AUTH PLAIN")) == .send([.authPlain(initialResponse: "AHUAcA==")]))
    }

    @Test func quitThenClose() {
        var machine = readyMachine(ehlo: ehloPlain)
        #expect(machine.quit() == .send([.quit]))
        #expect(machine.replyReceived(Self.reply("221 2.0.0 Bye")) == .quitCompleted)
        #expect(machine.isClosed)
    }

    @Test func addressesThatCouldInjectCommandsAreRefused() {
        var machine = readyMachine(ehlo: ehloPlain)
        guard case .rejectTransaction(let error) = machine.startTransaction(transaction(["a@x.test>\r\nRCPT TO:<evil@x.test"])) else {
            Issue.record("accepted"); return
        }
        #expect(error.code == .invalidAddress)
        #expect(machine.isReady)
    }

    @Test func nullSenderAndSMTPUTF8() {
        var machine = readyMachine(ehlo: Self.reply("250-mx.test|250-SMTPUTF8|250 SIZE"))
        let transaction = SMTPTransaction(mailFrom: "", recipients: ["é@x.test"], message: ByteBuffer(string: "x"), smtpUTF8: true)
        #expect(machine.startTransaction(transaction) == .send([.mail(from: "", size: 1, eightBitMIME: false, smtpUTF8: true)]))
        #expect(SMTPCommand.mail(from: "", size: 1, eightBitMIME: false, smtpUTF8: true).line == "MAIL FROM:<> SIZE=1 SMTPUTF8")
    }

    @Test func capabilitiesParseEveryExtension() {
        let capabilities = SMTPCapabilities(ehloReply: Self.reply(
            "250-mx.test greets you|250-SIZE|250-PIPELINING|250-STARTTLS|250-AUTH=LOGIN|250-AUTH cram-md5 plain|250-8BITMIME|250-SMTPUTF8|250-ENHANCEDSTATUSCODES|250-CHUNKING|250 DSN"))
        #expect(capabilities.serverName == "mx.test")
        #expect(capabilities.size == 0)
        #expect(capabilities.authMechanisms == ["LOGIN", "CRAM-MD5", "PLAIN"])
        #expect(capabilities.pipelining && capabilities.startTLS && capabilities.eightBitMIME && capabilities.smtpUTF8)
        #expect(capabilities.enhancedStatusCodes && capabilities.chunking && capabilities.dsn)
    }
}

@Suite struct SessionStateMachineFuzzTests {
    /// Any sequence of replies, in any state, gives an action and never traps; once the
    /// session is closed it stays closed and asks for nothing more.
    @Test func randomRepliesNeverTrap() {
        var random = SplitMix64(seed: 0x5A17_0003)
        let codes = [220, 221, 235, 250, 251, 334, 354, 421, 450, 451, 452, 454, 500, 502, 503, 530, 535, 550, 554]
        let policies: [SMTPConfiguration.TLSPolicy] = [.none, .opportunistic, .required, .implicit]
        for _ in 0..<2000 {
            let policy = policies[Int(random.next() % 4)]
            var machine = SMTPSessionStateMachine(
                configuration: .init(heloName: "c.test", tls: policy,
                                     credentials: random.next() % 2 == 0 ? .init(username: "u", password: "p") : nil,
                                     allowPlaintextAuth: random.next() % 2 == 0),
                tlsActive: policy == .implicit)
            for _ in 0..<Int(random.next() % 20) {
                let action: SMTPSessionStateMachine.Action
                switch random.next() % 6 {
                case 0: action = machine.startTransaction(SMTPTransaction(mailFrom: "a@b.test", recipients: ["c@d.test", "e@f.test"], message: [46, 10]))
                case 1: action = machine.tlsHandshakeCompleted()
                default:
                    let code = codes[Int(random.next() % UInt64(codes.count))]
                    let lines = code == 250 && random.next() % 2 == 0 ? ["mx", "PIPELINING", "STARTTLS", "AUTH PLAIN"] : ["text"]
                    action = machine.replyReceived(SMTPReply(code: code, lines: lines), unprocessedBytes: Int(random.next() % 2))
                }
                if machine.isClosed {
                    #expect(machine.wait == nil)
                    #expect(machine.replyReceived(SMTPReply(code: 250, lines: ["late"])) == .none)
                }
                _ = action
            }
        }
    }

    @Test func tlsPolicyFromConfigValues() {
        #expect(SMTPConfiguration.TLSPolicy(configValue: "starttls") == .required)
        #expect(SMTPConfiguration.TLSPolicy(configValue: "Opportunistic") == .opportunistic)
        #expect(SMTPConfiguration.TLSPolicy(configValue: "implicit") == .implicit)
        #expect(SMTPConfiguration.TLSPolicy(configValue: "none") == SMTPConfiguration.TLSPolicy.none)
        #expect(SMTPConfiguration.TLSPolicy(configValue: "maybe") == nil)
    }
}
