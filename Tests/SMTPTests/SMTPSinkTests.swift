import NIOCore
import SMTP
import TestPeers
import Testing

/// `SMTPConnection` against Postfix's smtp-sink: what the sink dumped is what we sent.
@Suite(.serialized) struct SMTPSinkTests {
    static let message = "From: news@shop.test\r\nTo: a@x.test\r\nSubject: dots\r\n\r\n.\r\n..two\r\n.leading\nbare LF line\r\nend"
    /// The same message as smtp-sink dumps it: LF line ends, dot-stuffing undone.
    static let dumped = "From: news@shop.test\nTo: a@x.test\nSubject: dots\n\n.\n..two\n.leading\nbare LF line\nend\n"

    static func configuration(timeouts: SMTPTimeouts = .uniform(.seconds(20))) -> SMTPConfiguration {
        SMTPConfiguration(heloName: "client.salvo.test", tls: .none, timeouts: timeouts)
    }

    static func transaction(_ recipients: [String]) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: recipients, message: ByteBuffer(string: message))
    }

    func sendThree(options: [String], expectPipelining: Bool) async throws {
        let sink = try await SMTPSinkPeer.start(options: options)
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        #expect(connection.capabilities.pipelining == expectPipelining)
        #expect(connection.greeting.code == 220)
        for round in 0..<3 {
            let result = try await connection.send(Self.transaction(["a\(round)@x.test", "b\(round)@y.test"]))
            #expect(result.recipients.map(\.status) == [.accepted, .accepted])
            #expect(result.dataReply?.code == 250)
        }
        #expect(connection.transactionCount == 3)
        #expect(connection.isUsable)
        await connection.quit()
        #expect(!connection.isUsable)

        let received = try sink.transactions()
        #expect(received.count == 3)
        #expect(Set(received.map(\.rcptArgs)) == Set((0..<3).map { ["<a\($0)@x.test>", "<b\($0)@y.test>"] }))
        for transaction in received {
            #expect(transaction.mailArgs == "<news@shop.test> BODY=8BITMIME")
            #expect(transaction.heloArgs == "client.salvo.test")
            #expect(String(decoding: transaction.message, as: UTF8.self) == Self.dumped)
        }
    }

    @Test func pipelinedTransactionsOnOneConnection() async throws {
        try await sendThree(options: [], expectPipelining: true)
    }

    @Test func oneCommandAtATimeWithoutPipelining() async throws {
        try await sendThree(options: ["-p"], expectPipelining: false)
    }

    /// The content waits for the caller's release; withheld, the server gets nothing.
    @Test func heldContentGoesOnlyWhenReleased() async throws {
        let sink = try await SMTPSinkPeer.start(options: [])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        let release = connection.eventLoop.makePromise(of: Bool.self)
        let sending = Task { try await connection.send(Self.transaction(["held@x.test"]), release: release.futureResult) }
        // The server is in the transaction (smtp-sink opens its dump at the RCPT, and the
        // DATA is pipelined with it), and the content has not gone.
        #expect(try await TestPeers.eventually { try sink.transactionFileCount() == 1 })
        #expect(try sink.transactions().isEmpty)
        release.succeed(true)
        #expect(try await sending.value.recipients.map(\.status) == [.accepted])
        // Released before the 354 arrives: it goes as soon as the server asks for it.
        let early = connection.eventLoop.makeSucceededFuture(true)
        #expect(try await connection.send(Self.transaction(["early@x.test"]), release: early).recipients.map(\.status) == [.accepted])

        let withheld = connection.eventLoop.makeSucceededFuture(false)
        await #expect(throws: SMTPError.self) { try await connection.send(Self.transaction(["withheld@x.test"]), release: withheld) }
        #expect(!connection.isUsable)
        let received = try sink.transactions()
        // Two dumps written within one clock tick list in either order.
        #expect(Set(received.map(\.rcptArgs)) == [["<held@x.test>"], ["<early@x.test>"]])
        #expect(received.count == 2)
        #expect(received.allSatisfy { String(decoding: $0.message, as: UTF8.self) == Self.dumped })
    }

    @Test func softRejectedRecipientsAreTemporaryAndTheConnectionStaysUsable() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-r", "RCPT", "-b", "451 4.7.650 try again later"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        let result = try await connection.send(Self.transaction(["a@x.test", "b@x.test"]))
        #expect(result.recipients.map(\.status) == [.temporaryFailure, .temporaryFailure])
        #expect(result.recipients[0].reply.code == 451)
        #expect(result.recipients[0].reply.enhancedCode?.description == "4.7.650")
        #expect(result.recipients[0].reply.text == "try again later")
        #expect(result.dataReply == nil)
        #expect(connection.isUsable)
        // RSET left the session clean for the next transaction.
        let again = try await connection.send(Self.transaction(["c@x.test"]))
        #expect(again.recipients.map(\.status) == [.temporaryFailure])
        await connection.quit()
        #expect(try sink.transactions().isEmpty)
    }

    @Test func hardRejectedRecipientsArePermanent() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-f", "RCPT", "-B", "550 5.1.1 no such user"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        let result = try await connection.send(Self.transaction(["a@x.test", "b@x.test"]))
        #expect(result.recipients.map(\.status) == [.permanentFailure, .permanentFailure])
        #expect(result.recipients.map(\.reply.description) == ["550 5.1.1 no such user", "550 5.1.1 no such user"])
        #expect(!result.messageAccepted)
        #expect(connection.isUsable)
        await connection.quit()
        #expect(try sink.transactions().isEmpty)
    }

    @Test func disconnectAtDATAFailsTheTransaction() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-q", "DATA"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        do {
            _ = try await connection.send(Self.transaction(["a@x.test"]))
            Issue.record("send succeeded")
        } catch let error as SMTPError {
            #expect(error.code == .connectionClosed)
            #expect(error.server == "127.0.0.1:\(sink.port)")
        }
        #expect(!connection.isUsable)
        await connection.close()
        #expect(try sink.transactions().isEmpty)
    }

    @Test func disconnectAfterTheMessageIsUnknownDelivery() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-q", "."])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        await #expect {
            _ = try await connection.send(Self.transaction(["a@x.test"]))
        } throws: { error in
            (error as? SMTPError)?.code == .connectionClosedAfterData
        }
        #expect(!connection.isUsable)
    }

    @Test func a421AtRCPTEndsTheSession() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-Q", "RCPT"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        let result = try await connection.send(Self.transaction(["a@x.test", "b@x.test"]))
        #expect(result.recipients.map(\.status) == [.temporaryFailure, .temporaryFailure])
        #expect(result.recipients[0].reply.code == 421)
        #expect(!connection.isUsable)
        await #expect(throws: SMTPError.self) { _ = try await connection.send(Self.transaction(["c@x.test"])) }
    }

    /// `-p`: smtp-sink's `-W` answers pipelined commands out of order, which no real
    /// server does; one command at a time shows the MAIL time limit at work. Every other
    /// limit is longer than the server's 30 s delay: only the MAIL limit can end the send
    /// with a timeout (without it the late reply arrives and the send succeeds).
    @Test func aServerThatStopsAnsweringIsCutOff() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-p", "-W", "MAIL:30"])
        defer { sink.stop() }
        var timeouts = SMTPTimeouts.uniform(.seconds(120))
        timeouts.mail = .milliseconds(700)
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration(timeouts: timeouts))
        do {
            _ = try await connection.send(Self.transaction(["a@x.test"]))
            Issue.record("send succeeded")
        } catch let error as SMTPError {
            #expect(error.code == .replyTimeout, "\(error)")
            #expect(error.description.contains("127.0.0.1:\(sink.port)"))
        }
        #expect(!connection.isUsable)
    }

    @Test func connectionRefusedSaysWhere() async throws {
        let port = try TestPeers.freePort()
        do {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: port, configuration: Self.configuration())
            Issue.record("connected")
        } catch let error as SMTPError {
            #expect(error.code == .connectFailed)
            #expect(error.description.hasPrefix("smtp 127.0.0.1:\(port): cannot connect"))
        }
    }
    @Test func ehloRefusedFallsBackToHELO() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-f", "EHLO"])
        defer { sink.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
        #expect(!connection.capabilities.isExtended)
        #expect(!connection.capabilities.pipelining)
        #expect(try await connection.send(Self.transaction(["a@x.test"])).messageAccepted)
        await connection.quit()
        let received = try sink.transactions()
        #expect(received.map(\.mailArgs) == ["<news@shop.test>"], "no ESMTP parameters after HELO")
        #expect(received.map(\.heloArgs) == ["client.salvo.test"])
    }

    @Test(arguments: [("-f", SMTPError.Code.greetingRejected), ("-Q", SMTPError.Code.serviceNotAvailable)])
    func refusedGreeting(option: String, code: SMTPError.Code) async throws {
        let sink = try await SMTPSinkPeer.start(options: [option, "CONNECT"])
        defer { sink.stop() }
        do {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: sink.port, configuration: Self.configuration())
            Issue.record("connected")
        } catch let error as SMTPError {
            #expect(error.code == code, "\(error)")
            #expect(error.reply != nil)
        }
    }
}
