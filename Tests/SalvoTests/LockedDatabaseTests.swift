import Foundation
import Testing
import TestPeers

/// Another process holds the database's write lock for twelve seconds in the middle of a
/// send (longer than the ten seconds the store used to wait): the send waits it out, every recipient
/// ends `sent` exactly once, and the exit status says so.
@Suite struct LockedDatabaseSendTests {
    @Test func aSendOutlastsALockHeldByAnotherProcess() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        // 2 messages a second: the send would be over in twenty seconds without the lock.
        let dir = try await SalvoBinary.slowProject(recipients: 40, prefix: "l", port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let sending = try SalvoBinary.start(["send", "welcome"], in: dir, environment: ["SALVO_UNSUBSCRIBE_SECRET": "lock-lock-lock-lock-lock-lock-lock-lock"])
        #expect(try await TestPeers.eventually { try sink.transactions().count > 0 })
        let holder = try await SQLiteLockHolder.hold(dir + "/salvo.db", for: 12, countingDeliveriesIn: sink.dumpDirectory)
        defer { holder.stop() }
        let atLock = try #require(holder.delivered(at: "lock"))
        #expect(sending.process.isRunning && atLock < 40, "the send was over before the lock was taken (\(atLock) sent)")
        #expect(try await TestPeers.eventually(within: .seconds(120)) { holder.said("releasing") })
        // While the lock was held no message could be marked, so none went out beyond
        // those marked before it: one per connection, 5. The holder counts at the sink at
        // the moment it takes the lock and the moment before it lets go, so nothing sent
        // after the release is in the count; twelve seconds at 2/s without the wait would
        // be 24 more.
        let atRelease = try #require(holder.delivered(at: "release"))
        #expect(atRelease - atLock <= 6, "\(atRelease - atLock) messages went out while the database was locked")
        #expect(sending.process.isRunning || atRelease < 40, "the send did not wait for the lock")
        let result = await sending.finished()
        #expect(result.status == 0, "status \(result.status): \(result.stderr)")
        #expect(result.stdout.contains("campaign 'welcome': sent 40"), "\(result.stdout)")
        let rcpts = try sink.transactions().flatMap(\.rcptArgs)
        #expect(rcpts.count == 40 && Set(rcpts).count == 40, "\(rcpts.count)")
    }
}
