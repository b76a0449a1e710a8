@testable import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

@Suite struct SitePoolTests {
    static let connector: SMTPConnector = { destination, address in
        var configuration = SMTPConfiguration.mx(heloName: "pool.test", tls: .none)
        configuration.timeouts = .uniform(.seconds(5))
        return try await SMTPConnection.connect(host: address, port: destination.port, configuration: configuration)
    }

    static func message(_ i: Int) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: ["r\(i)@example.test"],
                        message: Array("Subject: \(i)\r\n\r\nhello \(i)\r\n".utf8))
    }

    @Test func neverOpensMoreThanTheLimitAndReusesConnections() async throws {
        let peer = try await PythonSMTPPeer.start(["--pipelining"])
        defer { peer.stop() }
        let pool = SitePool(site: "peer", destinations: [Destination(host: "peer.test", port: peer.port, addresses: ["127.0.0.1"])],
                            maxConnections: 2, messagesPerConnection: 5, connector: Self.connector)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let result = try await pool.withConnection { try await $0.send(Self.message(i)) }
                    #expect(result.recipients.allSatisfy { $0.status == .accepted })
                }
            }
            try await group.waitForAll()
        }
        await pool.shutdown()
        try await Task.sleep(for: .milliseconds(300))
        let events = try peer.events()
        let opens = events.filter { $0.event == "connect" }
        #expect(try peer.messages().count == 20)
        #expect(opens.compactMap(\.open).max() ?? 0 <= 2, "\(opens)")
        // 20 messages at most 5 per connection: at least 4 sessions, and reuse means few more.
        #expect(opens.count >= 4 && opens.count <= 6, "\(opens.count) sessions")
        #expect(await pool.peakOpen == 2)
    }

    @Test func aDeadPrimaryFallsBackToTheBackup() async throws {
        let peer = try await PythonSMTPPeer.start()
        defer { peer.stop() }
        let dead = try TestPeers.freePort()
        let pool = SitePool(site: "mx:a,b", destinations: [
            Destination(host: "primary.test", port: dead, addresses: ["127.0.0.1"], preference: 10),
            Destination(host: "backup.test", port: peer.port, addresses: ["127.0.0.1"], preference: 20),
        ], maxConnections: 1, messagesPerConnection: 10, connector: Self.connector)
        let result = try await pool.withConnection { try await $0.send(Self.message(1)) }
        #expect(result.recipients.first?.status == .accepted)
        #expect(try peer.messages().map(\.rcpt_tos) == [["r1@example.test"]])
        await pool.shutdown()

        let nowhere = SitePool(site: "dead", destinations: [Destination(host: "primary.test", port: dead, addresses: ["127.0.0.1"])],
                               maxConnections: 1, messagesPerConnection: 10, connector: Self.connector)
        await #expect(throws: SitePoolError.self) { try await nowhere.withConnection { try await $0.send(Self.message(2)) } }
    }

    @Test func spentAndIdleConnectionsAreClosed() async throws {
        let peer = try await PythonSMTPPeer.start()
        defer { peer.stop() }
        let pool = SitePool(site: "peer", destinations: [Destination(host: "peer.test", port: peer.port, addresses: ["127.0.0.1"])],
                            maxConnections: 3, messagesPerConnection: 3, idleTimeout: .milliseconds(300), connector: Self.connector)
        for i in 0..<7 {
            _ = try await pool.withConnection { try await $0.send(Self.message(i)) }
        }
        // Sequential sends share one connection until it has carried three messages.
        #expect(try peer.events().filter { $0.event == "connect" }.count == 3)
        // The idle connection closes about 300 ms later; a loaded machine gets up to 10 s.
        var events = try peer.events()
        for _ in 0..<100 where events.filter({ $0.event == "quit" }).count < 3 {
            try await Task.sleep(for: .milliseconds(100))
            events = try peer.events()
        }
        #expect(events.filter { $0.event == "quit" }.count == 3, "\(events.map(\.event))")
        #expect(events.last?.open == 0)
    }
}
