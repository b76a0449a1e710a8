import Foundation

/// dnsmasq answering on 127.0.0.1 from the records a test gives it, and from nothing
/// else: names under `local` domains that it has no records for are NXDOMAIN, and it
/// never asks an upstream server unless a test routes a domain to a dead one (SERVFAIL).
///
/// It is started with posix_spawn rather than Foundation's `Process`: dnsmasq closes every
/// inherited descriptor at start, which Foundation takes for the child's exit, and its
/// monitor thread then blocks in wait4 for a process that is still running, stalling
/// every other peer's exit as well.
public final class DNSMasqPeer: @unchecked Sendable {
    public let port: Int
    private let pid: pid_t
    private let directory: URL
    private var stopped = false

    private init(port: Int, pid: pid_t, directory: URL) {
        self.port = port
        self.pid = pid
        self.directory = directory
    }

    /// `lines` are dnsmasq configuration lines such as `mx-host=a.test,mx.a.test,10`,
    /// `host-record=mx.a.test,127.0.0.1`, `txt-record=…` or `server=/dead.test/127.0.0.1#9`.
    public static func start(_ lines: [String], localDomains: [String] = ["test"]) async throws -> DNSMasqPeer {
        let executable = try TestPeers.executable("dnsmasq")
        var lastError: Error = PeerError("dnsmasq did not start")
        for _ in 0..<3 {
            // A new folder each time: stopping a failed attempt removes its own.
            let directory = try TestPeers.makeTemporaryDirectory("dnsmasq")
            let port = try TestPeers.freePort()
            var config = [
                "port=\(port)", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts",
                "no-negcache", "cache-size=0", "user=\(geteuid() == 0 ? "root" : NSUserName())", "pid-file=",
            ]
            config += localDomains.map { "local=/\($0)/" }
            config += lines
            let file = directory.appendingPathComponent("dnsmasq.conf")
            try (config.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            let log = directory.appendingPathComponent("dnsmasq.out").path
            let pid = try TestPeers.spawnDaemon(executable, ["--no-daemon", "--log-queries", "--conf-file=\(file.path)"], output: log)
            let peer = DNSMasqPeer(port: port, pid: pid, directory: directory)
            switch try await TestPeers.daemonStart(port: port, pid: pid) {
            case .accepting?:
                return peer
            case .exited?:
                peer.stopped = true
                lastError = PeerError("dnsmasq exited before it was ready: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            case nil:
                lastError = PeerError("dnsmasq was not ready on port \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            peer.stop()
        }
        throw lastError
    }

    /// Kills dnsmasq, reaps it and removes its folder.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}
