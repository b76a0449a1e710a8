import NIOCore
import Testing
@testable import POP3

/// The POP3 session as transcripts: server bytes in, actions out, no sockets.
@Suite struct POP3SessionStateMachineTests {
    typealias Machine = POP3SessionStateMachine

    static let capa = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n"

    /// A session logged in as `bounces@shop.example` with password `s3cret`.
    static func loggedIn(limits: Machine.Limits = .init()) -> Machine {
        var machine = Machine(user: "bounces@shop.example", password: "s3cret", limits: limits)
        _ = machine.receive("+OK Dovecot ready.\r\n")
        _ = machine.receive(capa)
        _ = machine.receive("+OK\r\n")
        _ = machine.receive("+OK Logged in.\r\n")
        return machine
    }

    @Test func normalSession() {
        var machine = Machine(user: "bounces@shop.example", password: "s3cret")
        #expect(machine.receive("+OK Dovecot ready.\r\n") == [.send(.capa)])
        #expect(machine.receive(Self.capa) == [.send(.user("bounces@shop.example"))])
        #expect(machine.receive("+OK\r\n") == [.send(.pass("s3cret"))])
        let ready = machine.receive("+OK Logged in.\r\n")
        guard case .sessionReady(let capabilities) = ready.first else {
            Issue.record("not ready: \(ready)")
            return
        }
        #expect(capabilities.names.isSuperset(of: ["USER", "UIDL", "SASL"]))
        #expect(machine.isReady)

        #expect(machine.request(.statistics) == .send(.stat))
        #expect(machine.receive("+OK 2 320\r\n") == [.completed(.statistics(messages: 2, octets: 320))])

        #expect(machine.request(.uniqueIDs) == .send(.uidl))
        #expect(machine.receive("+OK\r\n1 000000016b06efbb\r\n2 000000026b06efbb\r\n.\r\n") == [
            .completed(.uniqueIDs([POP3UniqueID(number: 1, uid: "000000016b06efbb"), POP3UniqueID(number: 2, uid: "000000026b06efbb")]))
        ])

        #expect(machine.request(.sizes) == .send(.list))
        #expect(machine.receive("+OK 2 messages:\r\n1 120\r\n2 200\r\n.\r\n") == [
            .completed(.sizes([POP3MessageSize(number: 1, octets: 120), POP3MessageSize(number: 2, octets: 200)]))
        ])

        #expect(machine.request(.retrieve(1)) == .send(.retr(1)))
        #expect(machine.receive("+OK 30 octets\r\nSubject: one\r\n\r\nbody\r\n.\r\n") == [
            .completed(.message(Array("Subject: one\r\n\r\nbody\r\n".utf8)))
        ])

        #expect(machine.request(.delete(1)) == .send(.dele(1)))
        #expect(machine.receive("+OK Marked to be deleted.\r\n") == [.completed(.deleted(1))])

        #expect(machine.quit() == .send(.quit))
        #expect(machine.receive("+OK Logging out, messages deleted.\r\n") == [.quitCompleted])
        #expect(machine.isClosed)
    }

    @Test func responsesSplitAcrossReadsAreReassembled() {
        var machine = Self.loggedIn()
        #expect(machine.request(.retrieve(1)) == .send(.retr(1)))
        let response = Array("+OK\r\nSubject: split\r\n\r\n..dot\r\n.\r\n".utf8)
        // The I/O layer keeps one buffer: a partial line stays in it until the rest comes.
        var buffer = ByteBuffer()
        var actions: [Machine.Action] = []
        for byte in response {
            buffer.writeInteger(byte)
            while case let action = machine.bytesReceived(&buffer), action != .none { actions.append(action) }
        }
        #expect(actions == [.completed(.message(Array("Subject: split\r\n\r\n.dot\r\n".utf8)))])
    }

    @Test func errOnPassNamesTheFailureAndHidesThePassword() throws {
        var machine = Machine(user: "bounces@shop.example", password: "s3cret")
        _ = machine.receive("+OK ready\r\n")
        _ = machine.receive(Self.capa)
        #expect(machine.receive("+OK\r\n") == [.send(.pass("s3cret"))])
        let actions = machine.receive("-ERR [AUTH] Authentication failed.\r\n")
        let error = try #require(actions.first?.failure)
        #expect(error.code == .authenticationFailed)
        #expect(error.command == "PASS ****")
        #expect(error.line == "-ERR [AUTH] Authentication failed.")
        #expect(!error.description.contains("s3cret"))
        #expect(error.description.contains("login failed: after PASS ****: server said \"-ERR [AUTH] Authentication failed.\""))
        #expect(machine.isClosed)
    }

    @Test func dotStuffedLinesComeBackUnstuffed() {
        var machine = Self.loggedIn()
        _ = machine.request(.retrieve(3))
        let actions = machine.receive("+OK\r\nSubject: dots\r\n\r\n..leading dot\r\n...\r\n..\r\nmiddle . dot\r\n.\r\n")
        #expect(actions == [.completed(.message(Array("Subject: dots\r\n\r\n.leading dot\r\n..\r\n.\r\nmiddle . dot\r\n".utf8)))])
    }

    @Test func bareLineFeedsComeBackAsCRLF() {
        var machine = Self.loggedIn()
        _ = machine.request(.retrieve(1))
        #expect(machine.receive("+OK\nA: b\n\nc\n.\n") == [.completed(.message(Array("A: b\r\n\r\nc\r\n".utf8)))])
    }

    @Test func truncatedMultiLineResponseIsAnError() throws {
        var machine = Self.loggedIn()
        _ = machine.request(.retrieve(2))
        #expect(machine.receive("+OK 100 octets\r\nSubject: cut\r\n\r\nhalf a bo").isEmpty)
        let error = try #require(machine.connectionClosed().failure)
        #expect(error.code == .truncatedResponse)
        #expect(error.command == "RETR 2")
        #expect(error.detail == "the connection closed after 16 bytes of the response")
    }

    @Test func overlongLineIsCutWithAnError() throws {
        var machine = Self.loggedIn(limits: .init(responseLine: 64, messageLine: 200, responseSize: 10_000))
        _ = machine.request(.retrieve(1))
        #expect(machine.receive("+OK\r\nSubject: long\r\n").isEmpty)
        let actions = machine.receive(String(repeating: "x", count: 300))
        let error = try #require(actions.first?.failure)
        #expect(error.code == .lineTooLong)
        #expect(error.command == "RETR 1")
        let line = try #require(error.line)
        #expect(line.hasPrefix("xxxx") && line.hasSuffix("…") && line.count < 130)
        #expect(error.detail == "a line of at least 300 bytes, the limit is 200")

        // A status line has the smaller limit, with or without its line end.
        var status = Self.loggedIn(limits: .init(responseLine: 64, messageLine: 200, responseSize: 10_000))
        _ = status.request(.statistics)
        let statusError = try #require(status.receive("+OK " + String(repeating: "9", count: 100) + "\r\n").first?.failure)
        #expect(statusError.code == .lineTooLong)
        #expect(statusError.command == "STAT")
    }

    @Test func responseLargerThanTheLimitIsAnError() throws {
        var machine = Self.loggedIn(limits: .init(responseLine: 64, messageLine: 64, responseSize: 100))
        _ = machine.request(.retrieve(1))
        let body = String(repeating: "0123456789012345678901234567890\r\n", count: 4)
        let error = try #require(machine.receive("+OK\r\n" + body).first?.failure)
        #expect(error.code == .responseTooLarge)
        #expect(error.command == "RETR 1")
    }

    @Test func errToARequestLeavesTheSessionReady() throws {
        var machine = Self.loggedIn()
        _ = machine.request(.retrieve(9))
        guard case .requestFailed(let error) = machine.receive("-ERR There's no message 9.\r\n").first else {
            Issue.record("expected requestFailed")
            return
        }
        #expect(error.code == .commandRefused)
        #expect(error.description.contains("after RETR 9: server said \"-ERR There's no message 9.\""))
        #expect(machine.isReady)

        _ = machine.request(.uniqueIDs)
        guard case .requestFailed(let uidl) = machine.receive("-ERR unknown command\r\n").first else {
            Issue.record("expected requestFailed")
            return
        }
        #expect(uidl.code == .uniqueIDsNotSupported)
    }

    @Test func misbehavingServerNamesTheCommandAndItsLine() throws {
        var machine = Self.loggedIn()
        _ = machine.request(.statistics)
        let garbage = try #require(machine.receive("HELLO there\r\n").first?.failure)
        #expect(garbage.code == .malformedResponse)
        #expect(garbage.command == "STAT")
        #expect(garbage.line == "HELLO there")

        var listing = Self.loggedIn()
        _ = listing.request(.uniqueIDs)
        let badListing = try #require(listing.receive("+OK\r\n1 abc\r\ntwo def\r\n.\r\n").first?.failure)
        #expect(badListing.code == .malformedResponse)
        #expect(badListing.command == "UIDL")
        #expect(badListing.line == "two def")

        var stat = Self.loggedIn()
        _ = stat.request(.statistics)
        #expect(stat.receive("+OK lots\r\n").first?.failure?.code == .malformedResponse)

        var unsolicited = Self.loggedIn()
        let extra = try #require(unsolicited.receive("+OK surprise\r\n").first?.failure)
        #expect(extra.code == .unexpectedResponse)
        #expect(extra.line == "+OK surprise")
    }

    @Test func greetingErrAndServersWithoutCapa() throws {
        var refused = Machine(user: "u", password: "p")
        #expect(refused.receive("-ERR go away\r\n").first?.failure?.code == .greetingRejected)

        // An RFC 1939 server without CAPA: USER/PASS is tried anyway.
        var old = Machine(user: "u", password: "p")
        _ = old.receive("+OK hello\r\n")
        #expect(old.receive("-ERR unknown command\r\n") == [.send(.user("u"))])

        // A server whose CAPA has no USER: the password is not offered to it.
        var saslOnly = Machine(user: "u", password: "p")
        _ = saslOnly.receive("+OK hello\r\n")
        let error = try #require(saslOnly.receive("+OK\r\nSASL PLAIN\r\nUIDL\r\n.\r\n").first?.failure)
        #expect(error.code == .userLoginNotOffered)
        #expect(error.command == "CAPA")
    }

    @Test func controlCharactersInTheUserAreRefusedBeforeSending() throws {
        var machine = Machine(user: "a\r\nDELE 1", password: "p")
        _ = machine.receive("+OK hello\r\n")
        let error = try #require(machine.receive(Self.capa).first?.failure)
        #expect(error.code == .invalidArgument)
        #expect(machine.lastCommand == .capa)
    }

    @Test func quitErrMeansNothingWasDeleted() throws {
        var machine = Self.loggedIn()
        _ = machine.request(.delete(1))
        _ = machine.receive("+OK\r\n")
        _ = machine.quit()
        let error = try #require(machine.receive("-ERR some deleted messages not removed\r\n").first?.failure)
        #expect(error.code == .quitFailed)
        #expect(error.command == "QUIT")
    }

    @Test func oneRequestAtATime() {
        var machine = Self.loggedIn()
        _ = machine.request(.retrieve(1))
        guard case .rejectRequest(let error) = machine.request(.delete(1)) else {
            Issue.record("a second request was accepted")
            return
        }
        #expect(error.code == .connectionNotUsable)

        var ready = Self.loggedIn()
        guard case .rejectRequest(let invalid) = ready.request(.retrieve(0)) else {
            Issue.record("message 0 was asked for")
            return
        }
        #expect(invalid.code == .invalidArgument)
        #expect(ready.isReady)
    }
}

extension POP3SessionStateMachine {
    /// Feeds `text` and collects every action until the machine waits for more.
    mutating func receive(_ text: String) -> [Action] { receive(Array(text.utf8)) }

    mutating func receive(_ bytes: [UInt8]) -> [Action] {
        var buffer = ByteBuffer(bytes: bytes)
        var actions: [Action] = []
        while true {
            let action = bytesReceived(&buffer)
            if action == .none { break }
            actions.append(action)
        }
        return actions
    }
}

extension POP3SessionStateMachine.Action {
    var failure: POP3Error? {
        if case .fail(let error) = self { return error }
        return nil
    }
}
