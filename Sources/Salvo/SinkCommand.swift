import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import SMTP
import SMTPServer

struct SinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "Run an SMTP server that accepts every message, to try a campaign on this machine.",
        discussion: """
            Prints one line per message received; with --maildir it also stores each one in \
            a Maildir folder (new/), the envelope in Return-Path and X-Sink-Rcpt lines. Route \
            a campaign's domains to it with `delivery.routes: { "*": 127.0.0.1:2525 }`. \
            Stops on Ctrl-C, or after --count messages.

            Examples:
              salvo sink
              salvo sink --listen 127.0.0.1:2626 --maildir captured --count 23
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Address and port to listen on.", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:2525"

    @Option(help: ArgumentHelp("Store every message in this Maildir folder.", valueName: "DIR"))
    var maildir: String?

    @Option(help: "Exit after this many messages.")
    var count: Int?

    func validate() throws {
        guard SMTPProbe.parseAddress(listen, defaultPort: 2525) != nil else { throw ValidationError("'\(listen)' is not HOST:PORT") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let (host, port) = SMTPProbe.parseAddress(listen, defaultPort: 2525)!
        let folder = try maildir.map { try Maildir(path: $0) }
        let received = NIOLockedValueBox(0)
        let limit = count
        let done = AsyncStream<Void>.makeStream()
        let sink = try await SMTPSink.start(host: host, port: port) { message in
            let sequence = received.withLockedValue { $0 += 1; return $0 }
            var line = "\(sequence): <\(message.from)> -> \(message.recipients.map { "<\($0)>" }.joined(separator: ", ")) \(message.data.count) bytes"
            if let subject = message.subject { line += "  Subject: \(subject)" }
            if let folder {
                do {
                    line += "  \(try folder.store(message, sequence: sequence))"
                } catch {
                    line += "  NOT STORED: \(error)"
                }
            }
            printNow(line)
            if let limit, sequence >= limit { done.continuation.yield() }
        }
        printNow("salvo sink listening on \(sink.host):\(sink.port)\(maildir.map { ", storing in \($0)" } ?? "")")
        let interrupt = InterruptHandler(saying: "salvo sink: stopping") { done.continuation.yield() }
        for await _ in done.stream { break }
        interrupt.cancel()
        await sink.stop()
        printNow("salvo sink: \(received.withLockedValue { $0 }) messages received")
    }
}
