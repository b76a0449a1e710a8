// Launchers for the real servers Salvo's tests talk to, always bound to 127.0.0.1.
import Foundation

/// A peer could not be started or did not become ready. Tests fail on it, never skip:
/// a missing binary is a broken test machine, not a reason to pass.
public struct PeerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Helpers shared by every test target that needs a real server.
public enum TestPeers {
    /// The repository's root folder (where Package.swift is).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The full path of a program, looked up in `PATH` and the sbin and bin folders.
    public static func executable(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        // PATH first (a pyenv python3 has the modules installed for it), then the sbin
        // folders a non-root PATH lacks (Postfix puts smtp-sink in /usr/sbin).
        let folders = path.split(separator: ":").map(String.init)
            + ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"]
        for folder in folders {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw PeerError("test peer '\(name)' is not installed (looked in \(folders.joined(separator: ":"))); see DESIGN.md, Test peers")
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago, for servers that cannot bind
    /// port 0 and report it (smtp-sink).
    public static func freePort() throws -> Int {
        let (fd, port) = try boundSocket()
        close(fd)
        return port
    }

    /// A socket bound to a port of 127.0.0.1 the system picked, not listening, and its port.
    static func boundSocket() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PeerError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { close(fd); throw PeerError("bind(127.0.0.1:0) failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { close(fd); throw PeerError("getsockname failed: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A port of 127.0.0.1 that refuses every connection for as long as the value lives:
    /// bound and never listening, so no other test's server can take it meanwhile (a port
    /// that was only free a moment ago can be, and then a "dead" destination answers).
    public final class RefusingPort: Sendable {
        public let port: Int
        private let fd: Int32

        public init() throws { (fd, port) = try TestPeers.boundSocket() }

        deinit { close(fd) }
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    public static func isAccepting(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// A new empty folder under the system temporary folder.
    public static func makeTemporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("salvo-\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Starts a program and returns once it is ready: either a line of its output matches
    /// `PORT <n>` (the port it bound), or `port` accepts connections. Gives up after
    /// `timeout` seconds, stopping the program; on failure `directory` is removed. The
    /// timeout only guards against a peer that never starts: a Python peer on a loaded
    /// machine can take well over ten seconds to import its modules.
    public static func launch(
        _ name: String,
        executable: String,
        arguments: [String],
        port: Int? = nil,
        directory: URL,
        timeout: Double = 90
    ) async throws -> PeerProcess {
        let outputURL = directory.appendingPathComponent("\(name).out")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let outputHandle = try FileHandle(forWritingTo: outputURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = outputHandle
        process.standardError = outputHandle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw PeerError("cannot start \(name) (\(executable)): \(error)")
        }
        let peer = PeerProcess(name: name, process: process, outputURL: outputURL, directory: directory)
        // Ready, or exited first; false only at the hang guard.
        let settled = try await eventually(within: .milliseconds(Int(timeout * 1000)), every: .milliseconds(50)) {
            if let port {
                if isAccepting(port: port) { peer.port = port }
            } else if let found = peer.reportedPort() {
                peer.port = found
            }
            return peer.port != 0 || !process.isRunning
        }
        if peer.port != 0 { return peer }
        if settled {
            let output = peer.output
            try? FileManager.default.removeItem(at: directory)
            throw PeerError("\(name) exited with status \(process.terminationStatus) before it was ready: \(output)")
        }
        let output = peer.output
        peer.stopAndClean()
        throw PeerError("\(name) was not ready within \(timeout) s: \(output)")
    }
}

/// A running peer. `stop()` it at the end of the test (a `defer`); it is also stopped
/// when released.
public final class PeerProcess: @unchecked Sendable {
    public let name: String
    public let process: Process
    /// Where the peer writes what it received; removed by `stop()` unless kept.
    public let directory: URL
    /// The port it listens on, on 127.0.0.1.
    public internal(set) var port: Int = 0
    private let outputURL: URL

    init(name: String, process: Process, outputURL: URL, directory: URL) {
        self.name = name
        self.process = process
        self.outputURL = outputURL
        self.directory = directory
    }

    /// Everything the peer printed so far.
    public var output: String {
        (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
    }

    func reportedPort() -> Int? {
        for line in output.split(separator: "\n") where line.hasPrefix("PORT ") {
            return Int(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// The signal `stop()` sends first. SIGKILL by default: a child started from the
    /// test runner can inherit a signal mask that blocks SIGTERM, and the peers keep
    /// nothing in memory worth a graceful exit (they write what they receive at once).
    public var stopSignal: Int32 = SIGKILL

    /// Stops the process (`stopSignal`, then SIGKILL after two seconds) and waits for it.
    public func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, stopSignal)
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 2, execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
    }

    /// Stops the process and removes its folder.
    public func stopAndClean() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}
