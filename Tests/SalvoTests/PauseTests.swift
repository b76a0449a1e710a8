import Foundation
import Testing
import TestPeers

/// `salvo pause` from another process stops a running `salvo send` within two seconds;
/// `resume` and another send deliver the rest, each recipient exactly once.
@Suite struct PauseTests {
    @Test func pauseStopsARunningSendAndResumeFinishesIt() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        // 5 messages a second: 40 recipients take eight seconds, time enough to pause.
        let dir = try SalvoBinary.slowCampaignProject(port: sink.port, recipients: 40, rate: 5)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = ["SALVO_UNSUBSCRIBE_SECRET": "pause-test-pause-test-pause-test-pause-test"]

        async let sending = SalvoBinary.run(["send", "welcome"], in: dir, environment: secret, timeout: 60)
        try await Task.sleep(for: .milliseconds(1500))
        let paused = try SalvoBinary.run(["pause", "welcome"], in: dir)
        #expect(paused.status == 0, "\(paused.stderr)")
        let pausedAt = Date()
        let first = try await sending
        #expect(Date().timeIntervalSince(pausedAt) < 2.5, "send took \(Date().timeIntervalSince(pausedAt)) s to stop")
        #expect(first.stdout.contains("stopped: the campaign was paused"), "\(first.stdout)")
        let sentBefore = try sink.transactions().count
        #expect(sentBefore > 0 && sentBefore < 40, "\(sentBefore)")

        #expect(try SalvoBinary.run(["resume", "welcome"], in: dir).status == 0)
        let second = try SalvoBinary.run(["send", "welcome"], in: dir, environment: secret, timeout: 60)
        #expect(second.status == 0, "\(second.stderr)")
        let rcpts = try sink.transactions().flatMap(\.rcptArgs)
        #expect(rcpts.count == 40 && Set(rcpts).count == 40)
    }
}
