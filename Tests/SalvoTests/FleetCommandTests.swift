import Delivery
import Foundation
import Testing
import TestPeers

/// Several `salvo send` processes on one PostgreSQL campaign, as hosts of a fleet run
/// them: one killed with SIGKILL mid-way and started again, every recipient ends final,
/// nobody gets the message twice, and `unknown` stays within the connections open at the
/// kill; and the configuration's rate holds for all of them together.
@Suite struct FleetCommandTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "fleet-fleet-fleet-fleet-fleet-fleet-fleet"]

    /// A project of `csv`'s recipients with `edits` to salvo.yml and `files` beside it,
    /// its `campaigns` created and copied into `database`; returns the folder and the
    /// database's URL.
    private func fleetProject(csv: String, edits: [(String, String)], files: [String: String] = [:],
                              campaigns: [String] = ["welcome.yml"],
                              server: PostgresServer, database: String) async throws -> (dir: String, url: String) {
        let dir = try await SalvoBinary.initProject(editing: edits, recipients: csv)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        let url = server.url(database)
        let steps = [["import", "customers", "recipients.csv"]] + campaigns.map { ["campaign", "create", $0] }
            + [["db", "copy", "--to", url]]
        for step in steps {
            let result = try await SalvoBinary.run(step, in: dir)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stdout) \(result.stderr)")
        }
        return (dir, url)
    }

    @Test func threeSendersOneKilledAndRestartedDeliverEachRecipientOnce() async throws {
        let recipients = 20_000
        // One site (everything is routed to the sink) of 5 connections for the whole fleet:
        // the killed sender held at most those.
        let connections = 5
        let sink = try await SMTPSinkPeer.start(backlog: 200)
        defer { sink.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<recipients { csv += "user\(i)@d\(i % 10).example,User,\(i),NG,new\n" }
        let (dir, url) = try await fleetProject(csv: csv, edits: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("default: { connections: 5,", "default: { connections: \(connections),"),
        ], server: server, database: database)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        var senders = try (0..<3).map { _ in try SalvoBinary.start(["send", "welcome", "--db", url], in: dir, environment: secret) }
        // Mid-way by what the server has received, however fast this machine is.
        #expect(try await TestPeers.eventually(within: .seconds(600), every: .milliseconds(50)) {
            try sink.transactionFileCount() >= recipients / 3
        })
        let killed = senders.remove(at: 1)
        killed.signal(SIGKILL)
        let end = await killed.finished(timeout: 60)
        #expect(end.signalled && end.status == SIGKILL)
        senders.append(try SalvoBinary.start(["send", "welcome", "--db", url], in: dir, environment: secret))
        for sender in senders {
            let result = await sender.finished(timeout: 900)
            #expect(result.status == 0 && !result.timedOut, "\(result.stdout) \(result.stderr)")
        }

        let rows = try await server.query("SELECT email, state FROM deliveries", database: database).split(separator: "\n")
        var states: [String: String] = [:]
        for row in rows {
            let fields = row.split(separator: "|")
            states[String(fields[0])] = String(fields[1])
        }
        #expect(states.count == recipients)
        let received = try sink.receivedCounts()
        #expect(received.values.allSatisfy { $0 == 1 }, "a recipient received the message twice")
        var unknown = 0
        for (email, state) in states {
            switch state {
            case "sent": #expect(received[email] == 1, "\(email) is sent but the server has \(received[email] ?? 0)")
            case "unknown": unknown += 1
            default: Issue.record("\(email) ended \(state)")
            }
        }
        #expect(unknown <= connections, "\(unknown) unknown after one kill of a sender holding at most \(connections) connections")
        #expect(try await server.query("SELECT state FROM campaigns WHERE name = 'welcome'", database: database) == "finished")
    }

    /// Three campaigns of one list, one sender each, at once on one PostgreSQL database, to
    /// the aiosmtpd peer that stamps each MAIL FROM: together within one global rate.
    /// (Three senders of one campaign this size would not overlap: the first claims every
    /// due recipient in one batch.) Each process alone may send at the full rate; only the
    /// store's shared budget keeps them together within it.
    @Test func threeSendersTogetherStayWithinOneGlobalRate() async throws {
        let rate = try #require(Rate("20/s"))
        let perCampaign = 40
        let peer = try await PythonSMTPPeer.start()
        defer { peer.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<perCampaign { csv += "r\(i)@d\(i % 3).example,P,\(i),NG,new\n" }
        let starter = try await SalvoBinary.initProject(recipients: csv)
        let welcome = try String(contentsOfFile: starter + "/welcome.yml", encoding: .utf8)
        try? FileManager.default.removeItem(atPath: starter)
        let names = ["welcome", "second", "third"]
        var files: [String: String] = [:]
        for name in names.dropFirst() {
            files[name + ".yml"] = welcome.replacingOccurrences(of: "name: welcome", with: "name: \(name)")
                .replacingOccurrences(of: "subject: \"Welcome, {{first_name}}\"", with: "subject: \"\(name.capitalized), {{first_name}}\"")
        }
        let (dir, url) = try await fleetProject(csv: csv, edits: [
            ("127.0.0.1:2525", "127.0.0.1:\(peer.port)"),
            ("  default: { connections: 5,", "  global: { rate: \(rate) }\n  default: { connections: 5,"),
            // One recipient a message: the peer's count of messages is the count of sends.
            ("recipients_per_transaction: 50", "recipients_per_transaction: 1"),
        ], files: files, campaigns: names.map { $0 + ".yml" }, server: server, database: database)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let senders = try names.map { try SalvoBinary.start(["send", $0, "--db", url], in: dir, environment: secret) }
        for sender in senders {
            let result = await sender.finished(timeout: 300)
            #expect(result.status == 0 && result.stdout.contains("sent \(perCampaign), deferred 0"), "\(result.stdout)\(result.stderr)")
        }
        #expect(try await server.query("SELECT state, count(*) FROM deliveries GROUP BY state", database: database)
                == "sent|\(3 * perCampaign)")

        // In every window of one second at the peer: at most the burst plus a second's
        // share of the rate (SendBudget's bound), for the three processes together. A send
        // is a transaction's MAIL FROM as the peer received it (SharedRateCommandTests).
        let starts = try peer.events().filter { $0.event == "mail" }.compactMap(\.at).sorted()
        #expect(starts.count == 3 * perCampaign)
        let allowance = SharedRateCommandTests.allowance(for: rate)
        let busiest = SharedRateCommandTests.busiestSecond(starts)
        #expect(busiest <= allowance, "\(busiest) transactions began within one second; the shared rate allows \(allowance)")
    }

    /// Two senders of one campaign from one host with two source addresses and one
    /// connection each: the store's per-address leases hold for both processes together,
    /// so the server never sees two sessions at once from one address, and both carry mail.
    @Test func twoSendersShareEachSourceAddressesConnections() async throws {
        let peer = try await HostileSMTPPeer.start(mode: "normal", ["--session-limit", "120"])
        defer { peer.stop() }
        let server = try await PostgresServer.shared()
        let database = try await server.makeDatabase()
        defer { server.dropDatabase(database) }
        let count = 60
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<count { csv += "r\(i)@d\(i % 3).example,P,\(i),NG,new\n" }
        let sources = ["127.0.0.2", "127.0.0.3"]
        let (dir, url) = try await fleetProject(csv: csv, edits: [
            ("127.0.0.1:2525", "127.0.0.1:\(peer.port)"),
            ("default: { connections: 5, messages_per_connection: 100,",
             "default: { connections: 1, messages_per_connection: 2, source_addresses: [\(sources.joined(separator: ", "))],"),
            ("recipients_per_transaction: 50", "recipients_per_transaction: 1"),
        ], server: server, database: database)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let senders = try (0..<2).map { _ in try SalvoBinary.start(["send", "welcome", "--db", url], in: dir, environment: secret) }
        for sender in senders {
            let result = await sender.finished(timeout: 300)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        }
        #expect(try await server.query("SELECT state, count(*) FROM deliveries GROUP BY state", database: database) == "sent|\(count)")
        #expect(try peer.events().filter { $0.event == "message" }.count == count)
        let most = HostileSMTPPeer.mostOpenAtOnce(byClient: try peer.events())
        #expect(Set(most.keys) == Set(sources) && most.values.allSatisfy { $0 == 1 }, "\(most)")
        #expect(try await server.query("SELECT DISTINCT source_address FROM attempts ORDER BY 1", database: database)
                == sources.joined(separator: "\n"))
    }
}
