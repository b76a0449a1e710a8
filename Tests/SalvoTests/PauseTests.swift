import Foundation
import Testing
import TestPeers

/// `salvo pause` from another process stops a running `salvo send` before it is done;
/// `resume` and another send deliver the rest, each recipient exactly once.
@Suite struct PauseTests {
    @Test func pauseStopsARunningSendAndResumeFinishesIt() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        // 2 messages a second: 40 recipients take twenty seconds, far longer than a pause
        // takes to reach the send (it looks at the campaign's state every two seconds).
        let dir = try await SalvoBinary.slowProject(recipients: 40, prefix: "p", port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = ["SALVO_UNSUBSCRIBE_SECRET": "pause-test-pause-test-pause-test-pause-test"]

        async let sending = SalvoBinary.run(["send", "welcome"], in: dir, environment: secret, timeout: 120)
        // Paused once the send is under way: the server has its first message.
        #expect(try await TestPeers.eventually { try sink.transactions().count > 0 })
        let paused = try await SalvoBinary.run(["pause", "welcome"], in: dir)
        #expect(paused.status == 0, "\(paused.stderr)")
        let first = try await sending
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("stopped: the campaign was paused"), "\(first.stdout)")
        let sentBefore = try sink.transactions().count
        #expect(sentBefore > 0 && sentBefore < 40, "\(sentBefore)")

        #expect(try await SalvoBinary.run(["resume", "welcome"], in: dir).status == 0)
        let second = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret, timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        let status = try await SalvoBinary.run(["status", "welcome"], in: dir).stdout
        #expect(status.contains("sent        40"), "\(second.stdout)\n\(status)")
        // The server writes its last dump as it answers; each recipient arrives once.
        let allThere = try await TestPeers.eventually { try sink.transactions().count >= 40 }
        #expect(allThere, "\((try? sink.transactions().count) ?? 0) at the server")
        let rcpts = try sink.transactions().flatMap(\.rcptArgs)
        #expect(rcpts.count == 40 && Set(rcpts).count == 40, "\(rcpts.count) recipients, \(Set(rcpts).count) different")
    }
}
