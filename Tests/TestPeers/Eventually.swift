import Foundation

extension TestPeers {
    /// Waits for an event a test cannot be told about directly (a count at a peer, a state
    /// in the store, a file a process writes): asks `condition` until it holds, and gives
    /// up after `deadline` — a guard against a hang, never a measurement, so it is
    /// generous: a machine with seven builds on two cores must not reach it.
    ///
    /// Bounded in time and in count (one look every `interval`). Returns whether the
    /// condition held; a test expects it (`#expect(try await TestPeers.eventually { … })`).
    public static func eventually(within deadline: Duration = .seconds(60), every interval: Duration = .milliseconds(20),
                                  _ condition: () async throws -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + deadline
        let looks = max(1, Int(deadline / interval) + 1)
        for _ in 0..<looks {
            if try await condition() { return true }
            if clock.now >= end { break }
            try await Task.sleep(for: interval)
        }
        return try await condition()
    }

    /// How a daemon's start ended: its port accepts connections, or it exited first.
    public enum DaemonStart: Sendable { case accepting, exited }

    /// Waits until the daemon `pid` accepts connections on `port` or exits (it is reaped
    /// then); nil when neither happened within `deadline`, a hang guard: a loaded machine
    /// starts daemons slowly.
    public static func daemonStart(port: Int, pid: pid_t, within deadline: Duration = .seconds(90)) async throws -> DaemonStart? {
        var exited = false
        let ended = try await eventually(within: deadline, every: .milliseconds(50)) {
            if isAccepting(port: port) { return true }
            var status: Int32 = 0
            exited = waitpid(pid, &status, WNOHANG) == pid
            return exited
        }
        return ended ? (exited ? .exited : .accepting) : nil
    }
}
