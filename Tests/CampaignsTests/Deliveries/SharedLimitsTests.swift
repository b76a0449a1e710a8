@testable import Campaigns
import Delivery
import Foundation
import GRDB
import Testing

/// The shared limits on SQLite with two `SalvoStore`s on one file, as two processes have
/// them, and a simulated clock: two senders together keep one rate, and connection leases
/// count across both and come back from an owner that is gone.
@Suite struct SharedLimitsTests {
    private func twoStores() throws -> (SalvoStore, SalvoStore, String) {
        let (first, folder) = try temporaryStore()
        return (first, try SalvoStore(path: first.path), folder)
    }

    /// Greedy takers on both stores, three sends asked every 1/128 s for ten seconds, at
    /// 64/s (times and intervals that binary floating point holds exactly, so the bounds
    /// below are exact too).
    @Test func twoSendersTogetherKeepOneRate() async throws {
        let (one, two, folder) = try twoStores()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let rate = Rate(count: 64, per: 1)
        let burst = TokenBucket<ContinuousClock.Instant>.burst(for: rate)
        let steps = 1_280
        var grants: [(at: Double, count: Int, store: Int)] = []
        let start = 1_800_000_000.0
        func time(_ step: Int) -> Double { start + Double(step) / 128 }
        for step in 0..<steps {
            let now = time(step)
            for (index, store) in [one, two].enumerated() {
                let grant = try await store.takeSends("site:mx.example", count: 3, rate: rate, now: Date(timeIntervalSince1970: now))
                if grant.granted > 0 { grants.append((now, grant.granted, index)) }
                if grant.granted < 3 {
                    let retryAt = try #require(grant.retryAt).timeIntervalSince1970
                    #expect(retryAt >= now && retryAt <= now + 1.0 / 64, "retry at \(retryAt - now) s")
                }
            }
        }
        func sent(from: Double, seconds: Double) -> Int {
            grants.filter { $0.at >= from && $0.at < from + seconds }.map(\.count).reduce(0, +)
        }
        // TokenBucket's bound, for both senders together: in any window of W seconds at
        // most one burst plus W seconds' worth.
        for step in 0..<steps {
            for seconds in [0.5, 1.0, 2.5] {
                #expect(sent(from: time(step), seconds: seconds) <= burst + Int(64 * seconds), "\(seconds) s from step \(step)")
            }
        }
        // Once the burst is spent, every second holds one rate, give or take the one take
        // (three sends) that straddles the window's end.
        for step in 128..<(steps - 128) {
            #expect(sent(from: time(step), seconds: 1) <= 64 + 3, "the second from step \(step)")
        }
        let total = grants.map(\.count).reduce(0, +)
        #expect(total >= 10 * 64 && total <= burst + 10 * 64, "\(total) in ten seconds")
        // Both senders were served.
        #expect(Set(grants.map(\.store)) == [0, 1])
        // Another key has its own budget.
        #expect(try await one.takeSends("domain:other.example", count: 5, rate: rate, now: Date(timeIntervalSince1970: time(steps))).granted == 5)
    }

    /// `100/hour`: one at once, then one every 36 s, for both stores together; a
    /// configuration that raises the rate does not wait out the old spacing.
    @Test func aSlowRateSpacesSendsAndARateChangeRescalesTheDebt() async throws {
        let (one, two, folder) = try twoStores()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let hourly = Rate(count: 100, per: 3600)
        let start = 1_800_000_000.0
        func take(_ store: SalvoStore, at offset: Double, rate: Rate = hourly) async throws -> SendGrant {
            try await store.takeSends("domain:yahoo.example", count: 2, rate: rate, now: Date(timeIntervalSince1970: start + offset))
        }
        let first = try await take(one, at: 0)
        #expect(first.granted == 1)
        #expect(first.retryAt.map { $0.timeIntervalSince1970 - start } == 36)
        #expect(try await take(two, at: 1).granted == 0)
        #expect(try await take(two, at: 36).granted == 1)
        #expect(try await take(one, at: 40).granted == 0)
        // 10/s from now: the 32 s still owed at 36 s a send become 0.09 s.
        let faster = try await take(one, at: 40, rate: Rate(count: 10, per: 1))
        #expect(faster.granted == 2, "\(faster)")
    }

    @Test func leasesCountAcrossStoresAndComeBackFromOwnersThatAreGone() async throws {
        let (one, two, folder) = try twoStores()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let key = "site:mx.example"
        try await one.heartbeat(owner: "a", now: t0)
        try await two.heartbeat(owner: "b", now: t0)

        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t0))
        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t0))
        #expect(try await two.leaseConnection(key, limit: 3, owner: "b", now: t0))
        #expect(try await two.leaseConnection(key, limit: 3, owner: "b", now: t0) == false)
        #expect(try await one.leaseConnection("site:other.example", limit: 1, owner: "a", now: t0))
        try await one.returnConnection(key, owner: "a")
        #expect(try await two.leaseConnection(key, limit: 3, owner: "b", now: t0))
        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t0) == false)

        // Signing off returns all of an owner's leases.
        try await two.signOff(owner: "b")
        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t0))
        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t0))
        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t0) == false)

        // An owner silent for longer than the lease holds none: "c" is stale at t1.
        let t1 = t0.addingTimeInterval(SalvoStore.senderLease + 1)
        try await two.heartbeat(owner: "c", now: t1)
        #expect(try await two.leaseConnection(key, limit: 3, owner: "c", now: t1))
        #expect(try await two.leaseConnection(key, limit: 3, owner: "c", now: t1))
        #expect(try await two.leaseConnection(key, limit: 3, owner: "c", now: t1))
        #expect(try await two.leaseConnection(key, limit: 3, owner: "c", now: t1) == false)

        // A process of this host that has ended holds none at once, fresh heartbeat or not.
        try await one.writer.write { db in
            try db.execute(sql: "UPDATE senders SET process = '999999999:1' WHERE owner = 'c'")
        }
        try await one.heartbeat(owner: "a", now: t1)
        #expect(try await one.leaseConnection(key, limit: 3, owner: "a", now: t1))
        let leases = try await one.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT owner, count FROM shared_leases WHERE key = ? ORDER BY owner", arguments: [key])
                .map { "\($0["owner"] as String)=\($0["count"] as Int)" }
        }
        #expect(leases == ["a=1"], "the leases of owners that are gone are deleted when seen: \(leases)")
    }
}
