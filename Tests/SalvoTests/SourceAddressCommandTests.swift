import Foundation
import GRDB
import Testing
import TestPeers

/// `delivery.source_address` from salvo.yml to the attempt log, against the hostile peer
/// in its well-behaved mode on 127.0.0.1 (which records each client's address): every
/// connection comes from the address asked for, and one this host does not have stops the
/// send once as the sender's failure, bouncing nobody.
@Suite struct SourceAddressCommandTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

    private func project(port: Int, source: String, recipients: Int) async throws -> String {
        try await project(port: port, recipients: recipients, editing: [("  mode: mx", "  mode: mx\n  source_address: \"\(source)\"")])
    }

    private func project(port: Int, recipients: Int, editing: [(String, String)]) async throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<recipients { csv += "r\(i)@d\(i % 3).test,R,\(i),NG,new\n" }
        let dir = try await SalvoBinary.initProject(editing: editing + [("127.0.0.1:2525", "127.0.0.1:\(port)")],
                                                    recipients: csv)
        for step in [["import", "customers", "recipients.csv"], ["campaign", "create", "welcome.yml"]] {
            let result = try await SalvoBinary.run(step, in: dir)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stderr)")
        }
        return dir
    }

    @Test func everyAttemptIsMadeFromTheSourceAddressAndSaysSo() async throws {
        let peer = try await HostileSMTPPeer.start(mode: "normal", ["--session-limit", "60"])
        defer { peer.stop() }
        let dir = try await project(port: peer.port, source: "127.0.0.2", recipients: 6)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stdout.contains("sent 6,"), "\(sent.stdout)")
        let clients = Set(try peer.events().filter { $0.event == "connect" }.compactMap(\.client))
        #expect(clients == ["127.0.0.2"])
        let sources = try await DatabaseQueue(path: dir + "/salvo.db").read { db in
            try String?.fetchAll(db, sql: "SELECT source_address FROM attempts")
        }
        #expect(sources.count == 6 && sources.allSatisfy { $0 == "127.0.0.2" }, "\(sources)")
    }

    /// `source_addresses` with two connections each: the server sees sessions from both
    /// addresses, never more than two at once from either, and each attempt records the
    /// address it was sent from.
    @Test func eachOfSeveralSourceAddressesCarriesMailWithinItsOwnConnections() async throws {
        let peer = try await HostileSMTPPeer.start(mode: "normal", ["--session-limit", "60"])
        defer { peer.stop() }
        let sources = ["127.0.0.2", "127.0.0.3"]
        let dir = try await project(port: peer.port, recipients: 40, editing: [
            ("default: { connections: 5, messages_per_connection: 100,",
             "default: { connections: 2, messages_per_connection: 3, source_addresses: [\(sources.joined(separator: ", "))],"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stdout.contains("sent 40,"), "\(sent.stdout)")
        // The sessions open from each address at once, in the order the server saw them.
        let most = HostileSMTPPeer.mostOpenAtOnce(byClient: try peer.events())
        #expect(Set(most.keys) == Set(sources) && most.values.allSatisfy { $0 <= 2 }, "\(most)")
        let rows = try await DatabaseQueue(path: dir + "/salvo.db").read { db in
            try Row.fetchAll(db, sql: "SELECT source_address, count(*) AS n FROM attempts GROUP BY 1 ORDER BY 1")
        }
        #expect(rows.map { $0["source_address"] as String? } == sources, "\(rows)")
        #expect(rows.map { $0["n"] as Int }.reduce(0, +) == 40)
    }

    /// 192.0.2.77 (TEST-NET-1) is no address of this host: nothing reaches the server,
    /// nobody is attempted, and the command exits 78 with one line naming the address.
    @Test func anAddressThisHostDoesNotHaveStopsTheSendOnce() async throws {
        let peer = try await HostileSMTPPeer.start(mode: "normal", ["--session-limit", "60"])
        defer { peer.stop() }
        let dir = try await project(port: peer.port, source: "192.0.2.77", recipients: 4)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 78, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stderr.contains("error: the sender's setup failed at") && sent.stderr.contains("192.0.2.77"), "\(sent.stderr)")
        #expect(try peer.connections() == 0)
        let report = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 4)
        for row in rows { #expect(row["status"] as? String == "pending" && row["attempts"] as? Int == 0, "\(row)") }
    }

    /// One of two source addresses is no address of this host: the send stops as the
    /// sender's failure before anyone is claimed, naming the address and its key, and the
    /// good address carries nothing. Twenty recipients two a connection would reach the
    /// bad address by the second connection (the lanes take turns); one recipient needs
    /// one connection, from the good address, and would never reach it: the check before
    /// the send finds it both times. Nobody is bounced or deferred for it, and everyone
    /// waits for a send from a setup that works.
    @Test(arguments: [(20, 2), (1, 100)])
    func aSourceAddressThisHostDoesNotHaveAmongSeveralStopsTheSendBeforeIt(recipients: Int, perConnection: Int) async throws {
        let peer = try await HostileSMTPPeer.start(mode: "normal", ["--session-limit", "60"])
        defer { peer.stop() }
        let dir = try await project(port: peer.port, recipients: recipients, editing: [
            ("default: { connections: 5, messages_per_connection: 100,",
             "default: { connections: 1, messages_per_connection: \(perConnection), source_addresses: [127.0.0.2, 192.0.2.77],"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 78, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stderr.contains("error: the sender's setup failed at this host: limits.default.source_addresses")
                && sent.stderr.contains("192.0.2.77 is not an address of this host"), "\(sent.stderr)")
        #expect(try peer.connections() == 0)
        let report = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == recipients)
        for row in rows { #expect(row["status"] as? String == "pending" && row["attempts"] as? Int == 0, "\(row)") }
    }

    @Test func aSourceAddressThatIsNotAnIPAddressIsRefusedNamingTheLine() async throws {
        let dir = try await SalvoBinary.initProject(editing: [("  mode: mx", "  mode: mx\n  source_address: mail.shop.test")],
                                                    recipients: "email\nann@example.test\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let refused = try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("salvo.yml") && refused.stderr.contains("delivery.source_address")
                && refused.stderr.contains("not an IP address (mail.shop.test)"), "\(refused.stderr)")
    }
}
