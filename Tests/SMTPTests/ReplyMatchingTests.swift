import NIOCore
import Testing
@testable import SMTP

/// Every reply is matched to its command: a reply too many, a missing one, or one out of
/// order drops the connection, no reply is attributed to another recipient, and the error
/// says whether the message's content may have reached the server. Transcripts, no sockets.
@Suite struct ReplyMatchingTests {
    typealias Machine = SMTPSessionStateMachine
    static func reply(_ text: String) -> SMTPReply { SessionStateMachineTests.reply(text) }

    let ok = reply("250 2.0.0 Ok")
    let go = reply("354 go ahead")

    func ready(pipelining: Bool = true) -> Machine {
        var machine = Machine(configuration: .init(heloName: "client.test", tls: .none))
        _ = machine.replyReceived(Self.reply("220 mx.test ESMTP"))
        _ = machine.replyReceived(Self.reply(pipelining ? "250-mx.test|250 PIPELINING" : "250 mx.test"))
        return machine
    }

    func transaction(_ recipients: [String] = ["good@x.test", "bad@x.test"]) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: recipients, message: ByteBuffer(string: "Subject: hi\r\n\r\nbody\r\n"))
    }

    /// A one-recipient transaction whose content has just been written out in full.
    func contentWritten() -> Machine {
        var machine = ready()
        _ = machine.startTransaction(transaction(["a@x.test"]))
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(go)
        _ = machine.messageWritten()
        return machine
    }

    /// The failure an action carries, or nil with an issue recorded.
    func failure(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) -> SMTPError? {
        guard case .fail(let error) = action else {
            Issue.record("expected a failure, got \(action)", sourceLocation: sourceLocation)
            return nil
        }
        return error
    }

    @Test func data250IsAViolationAndNobodyIsSent() throws {
        var machine = ready()
        _ = machine.startTransaction(transaction())
        #expect(machine.replyReceived(ok) == .none)
        #expect(machine.replyReceived(ok) == .none)
        #expect(machine.replyReceived(ok) == .none)
        let error = try #require(failure(machine.replyReceived(Self.reply("250 2.0.0 queued as 7"))))
        #expect(error.code == .protocolViolation)
        #expect(error.command == "DATA")
        // Named in the detail, not carried as a reply that something could classify.
        #expect(error.reply == nil)
        #expect(error.detail?.contains("server sent \"250 2.0.0 queued as 7\"") == true, "\(error)")
        #expect(!error.contentMayHaveReachedServer)
        #expect(error.scope == .connection)
        #expect(machine.isClosed)
    }

    @Test func data250WithoutPipeliningToo() throws {
        var machine = ready(pipelining: false)
        _ = machine.startTransaction(transaction(["a@x.test"]))
        #expect(machine.replyReceived(ok) == .send([.rcpt(to: "a@x.test")]))
        #expect(machine.replyReceived(ok) == .send([.data]))
        let error = try #require(failure(machine.replyReceived(ok)))
        #expect(error.code == .protocolViolation && !error.contentMayHaveReachedServer)
    }

    @Test func data5xxAnd4xxRefuseTheMessageForItsRecipientsAndKeepTheSession() {
        for (text, status) in [("554 5.6.0 no content today", SMTPReplyStatus.permanentFailure), ("451 4.3.0 try later", .temporaryFailure)] {
            var machine = ready()
            _ = machine.startTransaction(transaction())
            _ = machine.replyReceived(ok)
            _ = machine.replyReceived(ok)
            _ = machine.replyReceived(ok)
            #expect(machine.replyReceived(Self.reply(text)) == .send([.rset]))
            guard case .transactionCompleted(let result, closeConnection: false) = machine.replyReceived(ok) else {
                Issue.record("not completed"); continue
            }
            #expect(result.recipients.map(\.status) == [status, status])
            #expect(result.recipients.allSatisfy { $0.reply.description == Self.reply(text).description })
            #expect(result.dataReply?.description == Self.reply(text).description)
            #expect(!result.messageAccepted)
            #expect(machine.isReady)
        }
    }

    /// The server answers MAIL twice: every later reply would land one command early
    /// (good@ would get MAIL's extra 250, bad@ would get good@'s 250, DATA bad@'s 550).
    /// The shift shows when DATA's 354 arrives as the answer to RSET.
    @Test func anExtraReplyInAPipelinedGroupShiftsNothingOntoARecipient() throws {
        var machine = ready()
        _ = machine.startTransaction(transaction())
        #expect(machine.replyReceived(ok) == .none)                      // MAIL
        #expect(machine.replyReceived(ok) == .none)                      // MAIL again (extra)
        #expect(machine.replyReceived(ok) == .none)                      // good@'s, read as bad@'s
        #expect(machine.replyReceived(Self.reply("550 5.1.1 unknown")) == .send([.rset])) // bad@'s, read as DATA's
        let error = try #require(failure(machine.replyReceived(go)))
        #expect(error.code == .protocolViolation)
        #expect(!error.contentMayHaveReachedServer)
        #expect(machine.completedTransactions == 0)
    }

    /// All the replies of the group come in one read, plus one more: whatever the codes,
    /// bytes beyond the last reply owed are one reply too many.
    @Test func anExtraReplyBufferedAfterTheGroupIsCaughtBeforeContent() throws {
        var machine = ready()
        _ = machine.startTransaction(transaction())
        let extra = 10
        #expect(machine.replyReceived(ok, unprocessedBytes: 40) == .none)
        #expect(machine.replyReceived(ok, unprocessedBytes: 30) == .none)
        #expect(machine.replyReceived(ok, unprocessedBytes: 20) == .none)
        let error = try #require(failure(machine.replyReceived(go, unprocessedBytes: extra)))
        #expect(error.code == .protocolViolation && !error.contentMayHaveReachedServer)
        #expect(error.detail?.contains("\(extra) more bytes") == true)
    }

    @Test func aMissingRCPTReplyIsCaughtWhenThe354LandsOnARecipient() throws {
        var machine = ready()
        _ = machine.startTransaction(transaction())
        _ = machine.replyReceived(ok)                                    // MAIL
        _ = machine.replyReceived(ok)                                    // one RCPT reply; the other never comes
        let error = try #require(failure(machine.replyReceived(go)))
        #expect(error.code == .protocolViolation && error.reply == nil)
        #expect(error.detail?.contains("354 go ahead") == true, "\(error)")
        #expect(machine.completedTransactions == 0)
    }

    @Test func aReplyBeforeTheContentIsWrittenPutsTheMessageInDoubt() throws {
        var machine = ready()
        let transaction = transaction(["a@x.test"])
        _ = machine.startTransaction(transaction)
        _ = machine.replyReceived(ok)
        _ = machine.replyReceived(ok)
        #expect(machine.replyReceived(go) == .sendMessage(transaction.message))
        let error = try #require(failure(machine.replyReceived(ok)))
        #expect(error.code == .connectionClosedAfterData)
        #expect(error.contentMayHaveReachedServer)
        #expect(error.detail?.hasPrefix("protocol violation") == true)
    }

    @Test func anExtraReplyAfterTheEndOfDataPutsTheMessageInDoubt() throws {
        var machine = contentWritten()
        let error = try #require(failure(machine.replyReceived(ok, unprocessedBytes: 12)))
        #expect(error.code == .connectionClosedAfterData && error.contentMayHaveReachedServer)
        #expect(machine.completedTransactions == 0)
    }

    @Test func a354ToTheEndOfDataIsNoAnswer() throws {
        var machine = contentWritten()
        let error = try #require(failure(machine.replyReceived(go)))
        #expect(error.code == .connectionClosedAfterData)
    }

    @Test func aReplyWhenNothingIsOutstandingDropsTheConnection() throws {
        var machine = ready()
        let error = try #require(failure(machine.replyReceived(ok)))
        #expect(error.code == .protocolViolation)

        var partial = ready()
        let bytes = try #require(failure(partial.unsolicitedBytesReceived(3)))
        #expect(bytes.code == .protocolViolation && partial.isClosed)

        // Bytes while a reply is awaited are the start of that reply.
        var waiting = ready()
        _ = waiting.startTransaction(transaction())
        #expect(waiting.unsolicitedBytesReceived(3) == .none)
    }

    @Test func replyCodesThatNoSessionCommandSends() throws {
        var ehlo = Machine(configuration: .init(heloName: "client.test", tls: .none))
        _ = ehlo.replyReceived(Self.reply("220 mx.test"))
        #expect(try #require(failure(ehlo.replyReceived(go))).code == .protocolViolation)

        var mail = ready(pipelining: false)
        _ = mail.startTransaction(transaction())
        #expect(try #require(failure(mail.replyReceived(go))).code == .protocolViolation)

        var greeted = Machine(configuration: .init(heloName: "client.test", tls: .none))
        // A greeting followed at once by more: the server talks before it was spoken to.
        #expect(try #require(failure(greeted.replyReceived(Self.reply("220 mx.test"), unprocessedBytes: 8))).code == .protocolViolation)
    }
}
