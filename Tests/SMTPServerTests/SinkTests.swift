import Foundation
@testable import SMTPServer
import Testing
import TestPeers

@Suite struct SinkSessionTests {
    func lines(_ session: inout SinkSession, _ input: [String]) -> [SinkSession.Action] {
        input.flatMap { session.receive(line: Array($0.utf8)) }
    }

    @Test func acceptsATransactionAndUndoesDotStuffing() {
        var session = SinkSession(hostname: "sink.test")
        #expect(session.greeting == "220 sink.test ESMTP salvo sink")
        let ehlo = lines(&session, ["EHLO client.test"])
        guard case .reply(let text) = ehlo.first else { Issue.record("no reply"); return }
        #expect(text.hasPrefix("250-sink.test") && text.contains("250-PIPELINING"))
        let actions = lines(&session, ["MAIL FROM:<a@x.test> SIZE=12", "RCPT TO:<b@y.test>", "RCPT TO:<c@y.test>", "DATA",
                                       "Subject: hi", "", "..leading dot", ".", "QUIT"])
        #expect(actions == [
            .reply("250 2.1.0 sender ok"), .reply("250 2.1.5 recipient ok"), .reply("250 2.1.5 recipient ok"),
            .reply("354 end with <CRLF>.<CRLF>"),
            .deliver(SinkMessage(from: "a@x.test", recipients: ["b@y.test", "c@y.test"],
                                 data: Array("Subject: hi\r\n\r\n.leading dot\r\n".utf8), client: "client.test")),
            .reply("250 2.0.0 queued in the sink"), .reply("221 2.0.0 bye"), .close,
        ])
    }

    @Test func refusesCommandsOutOfOrder() {
        var session = SinkSession(hostname: "sink.test")
        #expect(lines(&session, ["MAIL FROM:<a@x.test>"]) == [.reply("503 5.5.1 EHLO first")])
        _ = lines(&session, ["HELO c"])
        #expect(lines(&session, ["RCPT TO:<b@y.test>"]) == [.reply("503 5.5.1 MAIL first")])
        #expect(lines(&session, ["MAIL FROM:<a@x.test>", "DATA"]) == [.reply("250 2.1.0 sender ok"), .reply("554 5.5.1 no valid recipients")])
        #expect(lines(&session, ["RCPT TO:b@y.test"]) == [.reply("501 5.5.4 Syntax: RCPT TO:<address>")])
        #expect(lines(&session, ["RSET", "VRFY x"]) == [.reply("250 2.0.0 reset"), .reply("500 5.5.2 unknown command")])
    }
}

/// `salvo sink` against real SMTP clients: Postfix's smtp-source and a pipelining Python
/// client that writes the whole session in one go.
@Suite struct SinkServerTests {
    @Test func receivesFromSMTPSource() async throws {
        let received = Captured()
        let sink = try await SMTPSink.start(port: 0) { received.append($0) }
        defer { Task { await sink.stop() } }
        let source = Process()
        source.executableURL = URL(fileURLWithPath: try TestPeers.executable("smtp-source"))
        source.arguments = ["-m", "20", "-s", "4", "-l", "2048", "-f", "news@shop.test", "-t", "ann@example.test", "127.0.0.1:\(sink.port)"]
        try source.run()
        source.waitUntilExit()
        #expect(source.terminationStatus == 0)
        let messages = received.all
        #expect(messages.count == 20)
        #expect(messages.allSatisfy { $0.from == "news@shop.test" && $0.recipients == ["ann@example.test"] && $0.data.count > 2048 })
        #expect(sink.messageCount == 20)
    }

    @Test func pipelinedSessionLandsByteExactInTheMaildir() async throws {
        let folder = try TestPeers.makeTemporaryDirectory("sink-maildir")
        defer { try? FileManager.default.removeItem(at: folder) }
        let maildir = try Maildir(path: folder.path)
        let sink = try await SMTPSink.start(port: 0) { message in _ = try? maildir.store(message, sequence: 1) }
        defer { Task { await sink.stop() } }
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            f = s.makefile("rb")
            def reply():
                lines = []
                while True:
                    line = f.readline().decode()
                    lines.append(line.strip())
                    if line[3] == " ":
                        return lines
            reply()
            s.sendall(b"EHLO py.test\\r\\n"); reply()
            s.sendall(b"MAIL FROM:<a@x.test>\\r\\nRCPT TO:<b@y.test>\\r\\nDATA\\r\\n")
            print(reply()[0], reply()[0], reply()[0])
            s.sendall(b"Subject: dots\\r\\n\\r\\n..one\\r\\n...two\\r\\n.\\r\\nQUIT\\r\\n")
            print(reply()[0], reply()[0])
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: try TestPeers.executable("python3"))
        python.arguments = ["-c", script, String(sink.port)]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        python.waitUntilExit()
        let printed = String(decoding: try out.fileHandleForReading.readAllData(), as: UTF8.self)
        #expect(printed == "250 2.1.0 sender ok 250 2.1.5 recipient ok 354 end with <CRLF>.<CRLF>\n250 2.0.0 queued in the sink 221 2.0.0 bye\n")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path + "/new")
        #expect(files.count == 1)
        let stored = try String(contentsOfFile: folder.path + "/new/" + files[0], encoding: .utf8)
        #expect(stored == "Return-Path: <a@x.test>\r\nX-Sink-Rcpt: <b@y.test>\r\nSubject: dots\r\n\r\n.one\r\n..two\r\n")
    }
}

final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [SinkMessage] = []
    func append(_ message: SinkMessage) { lock.withLock { messages.append(message) } }
    var all: [SinkMessage] { lock.withLock { messages } }
}
