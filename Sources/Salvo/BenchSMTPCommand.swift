import ArgumentParser
import Foundation
import NIOPosix
import SMTP

/// `salvo bench-smtp`: sends N messages over K reused connections as fast as the server
/// takes them, for `scripts/bench smtp`. Hidden: it is a measuring tool, not a feature.
struct BenchSMTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-smtp",
        abstract: "Send N messages of a given size over K connections and print the rate.",
        shouldDisplay: false
    )

    @Argument(help: "The server, HOST:PORT.")
    var server: String

    @Option(name: .short, help: "Messages to send.")
    var messages: Int = 20_000

    @Option(name: .short, help: "Connections, each reused for its share of the messages.")
    var connections: Int = 10

    @Option(name: .short, help: "Payload bytes per message, headers not included.")
    var length: Int = 4096

    func validate() throws {
        guard messages > 0, connections > 0, length >= 0 else { throw ValidationError("counts must be positive") }
        guard SMTPProbe.parseAddress(server, defaultPort: 25) != nil else { throw ValidationError("'\(server)' is not HOST:PORT") }
    }

    func run() async throws {
        let (host, port) = SMTPProbe.parseAddress(server, defaultPort: 25)!
        var text = "From: <bench@salvo.test>\r\nTo: <sink@salvo.test>\r\nSubject: bench\r\n\r\n"
        let line = String(repeating: "x", count: 78) + "\r\n"
        while text.utf8.count < length + 80 { text += line }
        let template = SMTPTransaction(mailFrom: "bench@salvo.test", recipients: [], message: Array(text.utf8))
        let configuration = SMTPConfiguration(heloName: "bench.salvo.test", tls: .none, timeouts: .uniform(.seconds(60)))
        let messages = self.messages, connections = self.connections

        // One event-loop thread multiplexes every session, as smtp-source's one process
        // does: on a small machine a second thread only adds context switches.
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: (sent: Int, failed: Int).self) { group in
            for index in 0..<connections {
                let share = messages / connections + (index < messages % connections ? 1 : 0)
                group.addTask {
                    let connection = try await SMTPConnection.connect(host: host, port: port, configuration: configuration, eventLoopGroup: loops)
                    let result = try await ConnectionDriver(connection).send(share, like: template, index: index)
                    await connection.quit()
                    return result
                }
            }
            var total = (sent: 0, failed: 0)
            for try await result in group {
                total.sent += result.sent
                total.failed += result.failed
            }
            return total
        }
        let elapsed = ContinuousClock.now - started
        try? await loops.shutdownGracefully()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(results.sent) / seconds
        print("salvo: \(results.sent) messages sent, \(results.failed) refused, \(connections) connections, \(String(format: "%.2f", seconds)) s, \(String(format: "%.0f", rate)) messages/s")
    }
}

/// Runs one connection's transactions on that connection's own event loop: each reply
/// resumes the loop on the thread that read it, with no hop to another thread between
/// transactions.
private actor ConnectionDriver {
    let connection: SMTPConnection
    nonisolated let unownedExecutor: UnownedSerialExecutor

    init(_ connection: SMTPConnection) {
        self.connection = connection
        unownedExecutor = connection.eventLoop.executor.asUnownedSerialExecutor()
    }

    func send(_ count: Int, like template: SMTPTransaction, index: Int) async throws -> (sent: Int, failed: Int) {
        var sent = 0, failed = 0
        for number in 0..<count {
            // The rendered bytes are shared by every transaction, never copied.
            var transaction = template
            transaction.recipients = ["rcpt\(index)-\(number)@salvo.test"]
            if try await connection.send(transaction).messageAccepted { sent += 1 } else { failed += 1 }
        }
        return (sent, failed)
    }
}
