import Foundation
import Testing
import TestPeers

/// PostgreSQL restarted while `salvo send` works on it (a server of the test's own,
/// stopped as a restart stops it and started again on the same port): the sender says
/// once that it is waiting for the database, sends nothing it could not mark, keeps the
/// outcomes it holds, writes them once the server is back and goes on to the end: nobody
/// is received twice, every recipient ends `sent` (received once) or `deferred` (not
/// received), and the command exits 0.
@Suite struct PostgresRestartTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "restart-restart-restart-restart-restart"]

    @Test func aSendOutlivesARestartOfTheDatabaseLosingAndRepeatingNothing() async throws {
        let recipients = 3_000
        let sink = try await SMTPSinkPeer.start(backlog: 200)
        defer { sink.stop() }
        let server = try await PostgresServer.launchPrivate()
        let database = try await server.makeDatabase()
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<recipients { csv += "user\(i)@d\(i % 5).example,User,\(i),NG,new\n" }
        // A rate that keeps the send going while the test stops the server.
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("  default: { connections: 5,", "  global: { rate: 150/s }\n  default: { connections: 5,"),
        ], recipients: csv)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = server.url(database)
        for step in [["import", "customers", "recipients.csv", "--db", url], ["campaign", "create", "welcome.yml", "--db", url]] {
            let result = try await SalvoBinary.run(step, in: dir)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stdout) \(result.stderr)")
        }

        let sender = try SalvoBinary.start(["send", "welcome", "--db", url], in: dir, environment: secret)
        #expect(try await TestPeers.eventually(within: .seconds(300), every: .milliseconds(20)) {
            try sink.transactionFileCount() >= recipients / 4
        })
        try await server.stop()
        // The sender notices, and says so.
        let noticed = try await TestPeers.eventually(within: .seconds(120), every: .milliseconds(50)) {
            sender.stderrSoFar.contains("for it to come back")
        }
        #expect(noticed, "\(sender.stderrSoFar)")
        try await server.start()
        let result = await sender.finished(timeout: 600)
        #expect(result.status == 0 && !result.timedOut, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("back after"), "\(result.stderr)")

        // Sent, or deferred when the server gave up on a session held while the database
        // was away (its content withheld, nothing sent): received once, or not at all.
        let received = try sink.receivedCounts()
        #expect(received.values.allSatisfy { $0 == 1 }, "a recipient received the message twice")
        var sent = 0
        for row in try await server.query("SELECT email, state FROM deliveries", database: database).split(separator: "\n") {
            let fields = row.split(separator: "|").map(String.init)
            switch fields[1] {
            case "sent": sent += 1; #expect(received[fields[0]] == 1, "\(fields[0]) is sent but the server has \(received[fields[0]] ?? 0)")
            case "deferred": #expect(received[fields[0]] == nil, "\(fields[0]) is deferred but was received")
            default: Issue.record("\(fields[0]) ended \(fields[1])")
            }
        }
        #expect(sent == received.count && sent > recipients / 2, "\(sent) sent, \(received.count) received")
        #expect(result.stdout.contains("sent \(sent), "), "\(result.stdout)")
        let attempts = try await server.query("SELECT count(*) FROM attempts", database: database)
        #expect(attempts == "\(recipients)", "one attempt logged per recipient, not \(attempts)")
    }
}
