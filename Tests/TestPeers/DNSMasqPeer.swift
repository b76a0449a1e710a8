import Foundation

/// dnsmasq answering on 127.0.0.1 from the records a test gives it, and from nothing
/// else: names under `local` domains that it has no records for are NXDOMAIN, and it
/// never asks an upstream server unless a test routes a domain to a dead one (SERVFAIL).
public struct DNSMasqPeer: Sendable {
    public let process: PeerProcess
    public var port: Int { process.port }

    /// `lines` are dnsmasq configuration lines such as `mx-host=a.test,mx.a.test,10`,
    /// `host-record=mx.a.test,127.0.0.1`, `txt-record=…` or `server=/dead.test/127.0.0.1#9`.
    public static func start(_ lines: [String], localDomains: [String] = ["test"]) async throws -> DNSMasqPeer {
        let executable = try TestPeers.executable("dnsmasq")
        let directory = try TestPeers.makeTemporaryDirectory("dnsmasq")
        var lastError: Error?
        for _ in 0..<3 {
            let port = try TestPeers.freePort()
            var config = [
                "port=\(port)", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts",
                "no-negcache", "cache-size=0", "user=\(geteuid() == 0 ? "root" : NSUserName())",
                "pid-file=",
            ]
            config += localDomains.map { "local=/\($0)/" }
            config += lines
            let file = directory.appendingPathComponent("dnsmasq.conf")
            try (config.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            do {
                let process = try await TestPeers.launch(
                    "dnsmasq", executable: executable,
                    arguments: ["--no-daemon", "--log-queries", "--conf-file=\(file.path)"],
                    port: port, directory: directory)
                return DNSMasqPeer(process: process)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? PeerError("dnsmasq did not start")
    }

    public func stop() { process.stopAndClean() }
}
