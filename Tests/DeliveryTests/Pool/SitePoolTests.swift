@testable import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

/// The pool's runner against real SMTP servers on loopback: connections opened, reused,
/// spent and closed as the state machine says, seen from the server's side.
@Suite struct SitePoolTests {
    static func connector(counting opens: Tally? = nil, from source: String? = nil) -> SMTPConnector {
        { destination, address in
            await opens?.add()
            var configuration = SMTPConfiguration.mx(heloName: "pool.test", tls: .none)
            configuration.timeouts = .uniform(.seconds(5))
            configuration.sourceAddress = source
            return try await SMTPConnection.connect(host: address, port: destination.port, configuration: configuration)
        }
    }

    static func destination(_ port: Int, host: String = "peer.test", preference: Int = 10) -> Destination {
        Destination(host: host, port: port, addresses: ["127.0.0.1"], preference: preference)
    }

    static func message(_ i: Int) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: ["r\(i)@example.test"],
                        message: Array("Subject: \(i)\r\n\r\nhello \(i)\r\n".utf8))
    }

    @Test func opensReusesAndClosesConnectionsAtTheSink() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let clock = FakeClock()
        let opens = Tally()
        let pool = SitePool(site: "sink", destinations: [Self.destination(sink.port)], maxConnections: 2,
                            messagesPerConnection: 3, idleTimeout: .seconds(30), clock: clock,
                            connector: Self.connector(counting: opens))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let result = try await pool.withConnection { try await $0.send(Self.message(i)) }
                    #expect(result.recipients.allSatisfy { $0.status == .accepted })
                }
            }
            try await group.waitForAll()
        }
        #expect(try await TestPeers.eventually { try sink.transactions().count == 20 })
        #expect(await pool.peakOpen == 2)
        // Spent connections closed after three messages each; the ones still fit for
        // more stay open, idle. 20 messages: six spent and one or two idle (five spent
        // would leave five messages to at most two connections of two).
        #expect(try await TestPeers.eventually { await pool.openCount == pool.idleCount })
        let idle = await pool.idleCount
        #expect((1...2).contains(idle))
        #expect(await opens.count == 6 + idle)
        #expect(try await TestPeers.eventually { establishedConnections(toPort: sink.port) == idle })
        // Their idle timer runs on the pool's clock: nothing closes until it moves.
        #expect(await pool.openCount == idle)
        clock.advance(by: .seconds(30))
        #expect(try await TestPeers.eventually { await pool.openCount == 0 })
        #expect(try await TestPeers.eventually { establishedConnections(toPort: sink.port) == 0 })
        await pool.shutdown()
        #expect(await opens.count == 6 + idle)
    }

    @Test func neverOpensMoreThanTheLimitAtThePeer() async throws {
        let peer = try await PythonSMTPPeer.start(["--pipelining"])
        defer { peer.stop() }
        let pool = SitePool(site: "peer", destinations: [Self.destination(peer.port)], maxConnections: 2,
                            messagesPerConnection: 5, connector: Self.connector())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask { _ = try await pool.withConnection { try await $0.send(Self.message(i)) } }
            }
            try await group.waitForAll()
        }
        await pool.shutdown()
        try await peer.waitFor("every session closed") { $0.last { $0.open != nil }?.open == 0 }
        let opens = try peer.events().filter { $0.event == "connect" }
        #expect(try peer.messages().count == 20)
        // The peer's own count of sessions open at each connect.
        #expect(opens.compactMap(\.open).max() ?? 0 <= 2, "\(opens)")
        // Every connection carries five messages before another opens, but the last two
        // may share the last ones: four sessions, or three spent and two partly used.
        #expect((4...5).contains(opens.count), "\(opens.count) sessions")
    }

    @Test func aDeadPrimaryFallsBackToTheBackup() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let deadPort = try TestPeers.RefusingPort()
        defer { withExtendedLifetime(deadPort) {} }
        let dead = deadPort.port
        let pool = SitePool(site: "mx:a,b", destinations: [
            Self.destination(dead, host: "primary.test", preference: 10),
            Self.destination(sink.port, host: "backup.test", preference: 20),
        ], maxConnections: 1, messagesPerConnection: 10, connector: Self.connector())
        let result = try await pool.withConnection { try await $0.send(Self.message(1)) }
        #expect(result.recipients.first?.status == .accepted)
        await pool.shutdown()
        #expect(try sink.transactions().map(\.rcptArgs) == [["<r1@example.test>"]])
    }

    @Test func aSiteWhoseEveryDestinationFailsGivesTheWaiterTheError() async throws {
        let deadPort = try TestPeers.RefusingPort()
        defer { withExtendedLifetime(deadPort) {} }
        let dead = deadPort.port
        let alsoDeadPort = try TestPeers.RefusingPort()
        defer { withExtendedLifetime(alsoDeadPort) {} }
        let alsoDead = alsoDeadPort.port
        let attempts = Tally()
        let pool = SitePool(site: "mx:a,b", destinations: [
            Self.destination(dead, host: "primary.test", preference: 10),
            Self.destination(alsoDead, host: "backup.test", preference: 20),
        ], maxConnections: 2, messagesPerConnection: 10, connector: Self.connector(counting: attempts))
        do {
            _ = try await pool.acquire()
            Issue.record("a connection to a site with no listener")
        } catch let error as SMTPError {
            // The backup's own reason, a site-level one, naming the primary it tried first.
            #expect(error.code == .connectFailed)
            #expect(error.scope == .site)
            #expect(error.server == "127.0.0.1:\(alsoDead)")
            #expect(error.detail?.contains("also tried primary.test [127.0.0.1]") == true, "\(error)")
        }
        // One attempt per destination, and nothing more: the pool does not spin.
        #expect(await attempts.count == 2)
        #expect(await pool.openCount == 0)
        #expect(await pool.waitingCount == 0)
        await pool.shutdown()
        #expect(await attempts.count == 2)
    }

    @Test func aCancelledWaiterLeavesTheLineAndShutdownWaitsForTheBusyConnection() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let pool = SitePool(site: "sink", destinations: [Self.destination(sink.port)], maxConnections: 1,
                            messagesPerConnection: 10, connector: Self.connector())
        let busy = try await pool.acquire()
        let cancelled = Task { try await pool.acquire() }
        #expect(try await TestPeers.eventually { await pool.waitingCount == 1 })
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { _ = try await cancelled.value }
        #expect(await pool.waitingCount == 0)

        let refused = Task { try await pool.acquire() }
        #expect(try await TestPeers.eventually { await pool.waitingCount == 1 })
        let shutdown = Task { await pool.shutdown() }
        await #expect(throws: SitePoolError.shutDown("sink")) { _ = try await refused.value }
        await #expect(throws: SitePoolError.shutDown("sink")) { _ = try await pool.acquire() }
        // The busy connection finishes its work, and shutdown ends once it is closed.
        let result = try await busy.send(Self.message(1))
        #expect(result.recipients.first?.status == .accepted)
        await pool.release(busy)
        await shutdown.value
        #expect(await pool.openCount == 0)
        #expect(!busy.isUsable)
        #expect(try await TestPeers.eventually { establishedConnections(toPort: sink.port) == 0 })
        #expect(try sink.transactions().count == 1)
    }

    @Test func sharedLeasesHoldTheSiteLimitAcrossTwoPools() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let store = LeaseLedger()
        let site = SiteKey(host: "127.0.0.1", port: sink.port)
        let siteKey = SitePool.Leases.siteKey(site)
        #expect(siteKey == "site:127.0.0.1:\(sink.port)")
        // Two senders on one store, each allowed 3 connections by its own pool, 2 by the store.
        let pools = ["send", "run"].map { owner in
            SitePool(site: "route:127.0.0.1:\(sink.port)", destinations: [Self.destination(sink.port)],
                     maxConnections: 3, messagesPerConnection: 2,
                     leases: .shared(store, owner: owner, site: site, siteConnections: 2, globalConnections: 10,
                                     now: { Date(timeIntervalSince1970: 1_800_000_000) },
                                     retryInterval: .milliseconds(10)),
                     connector: Self.connector())
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<30 {
                let pool = pools[i % 2]
                group.addTask {
                    let result = try await pool.withConnection { try await $0.send(Self.message(i)) }
                    #expect(result.recipients.first?.status == .accepted)
                }
            }
            try await group.waitForAll()
        }
        for pool in pools { await pool.shutdown() }
        #expect(try await TestPeers.eventually { try sink.transactions().count == 30 })
        #expect(await store.most[siteKey] == 2)
        #expect(await store.most["global"] ?? 0 <= 2)
        #expect(await store.refusals > 0)
        // Every lease came back with its connection.
        #expect(await store.held(siteKey) == 0)
        #expect(await store.held("global") == 0)
        #expect(try await TestPeers.eventually { establishedConnections(toPort: sink.port) == 0 })
    }

    /// Two source addresses, two connections each: both addresses carry mail, neither
    /// lane ever holds more than its two, each leases `site:<site>@<address>` of its own
    /// (the site-wide key is not taken), and every lease comes back.
    @Test func eachSourceAddressIsALaneWithItsOwnLimitAndLeases() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let store = LeaseLedger()
        let site = SiteKey(host: "127.0.0.1", port: sink.port)
        let sources = ["127.0.0.2", "127.0.0.3"]
        let pool = SitePool(site: "route:127.0.0.1:\(sink.port)", destinations: [Self.destination(sink.port)],
                            maxConnections: 2, messagesPerConnection: 2,
                            leases: .shared(store, owner: "send", site: site, siteConnections: 2, sourceAddresses: sources,
                                            globalConnections: 10, now: { Date(timeIntervalSince1970: 1_800_000_000) }),
                            connectors: sources.map { Self.connector(from: $0) })
        let used = try await withThrowingTaskGroup(of: String?.self) { group in
            for i in 0..<30 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let result = try await connection.send(Self.message(i))
                        #expect(result.recipients.first?.status == .accepted)
                        return connection.localAddress
                    }
                }
            }
            return try await group.reduce(into: Set<String?>()) { $0.insert($1) }
        }
        await pool.shutdown()
        #expect(try await TestPeers.eventually { try sink.transactions().count == 30 })
        #expect(used == Set(sources))
        #expect(await pool.lanePeaks.allSatisfy { $0 <= 2 })
        for source in sources {
            let key = SitePool.Leases.siteKey(site, from: source)
            #expect(key == "site:127.0.0.1:\(sink.port)@\(source)")
            #expect(await (1...2).contains(store.most[key] ?? 0))
            #expect(await store.held(key) == 0)
        }
        #expect(await store.most[SitePool.Leases.siteKey(site)] == nil)
        #expect(await store.held("global") == 0)
    }
}

/// A count shared by concurrent tasks.
actor Tally {
    private(set) var count = 0
    func add() { count += 1 }
}

/// The store's side of connection leases, kept in memory the way `SharedLimits` promises:
/// at most `limit` leases of a key across every owner. It records the most ever held.
actor LeaseLedger: SharedLimits {
    private var leases: [String: [String: Int]] = [:]
    private(set) var most: [String: Int] = [:]
    private(set) var refusals = 0

    func held(_ key: String) -> Int { leases[key, default: [:]].values.reduce(0, +) }

    func takeSends(_ key: String, count: Int, rate: Rate, now: Date) async throws -> SendGrant {
        SendGrant(granted: count)
    }

    func leaseConnection(_ key: String, limit: Int, owner: String, now: Date) async throws -> Bool {
        guard held(key) < limit else {
            refusals += 1
            return false
        }
        leases[key, default: [:]][owner, default: 0] += 1
        most[key] = max(most[key] ?? 0, held(key))
        return true
    }

    func returnConnection(_ key: String, owner: String) async throws {
        guard let count = leases[key]?[owner], count > 0 else { return }
        leases[key]?[owner] = count - 1
    }
}

/// Server-side TCP connections established to `port` on loopback, from the kernel's table:
/// what the server sees open, whatever the client believes.
func establishedConnections(toPort port: Int) -> Int {
    // procfs files claim a size of 0: read to the end rather than trust it.
    guard let handle = FileHandle(forReadingAtPath: "/proc/net/tcp"), let data = try? handle.readToEnd() else { return -1 }
    try? handle.close()
    let table = String(decoding: data, as: UTF8.self)
    let local = ":" + String(format: "%04X", port)
    return table.split(separator: "\n").dropFirst().count { line in
        let fields = line.split(separator: " ")
        return fields.count > 3 && fields[1].hasSuffix(local) && fields[3] == "01"
    }
}

