import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which process on which host runs a sender, so that a sender restarted after a crash
/// can tell at once that the previous one is gone, without waiting for its lease to run
/// out. A pid alone is not enough: in a container the same command gets the same pid on
/// every start, so the process is named by its pid and its start time. Shared by every
/// store that keeps `senders` rows (SQLite, PostgreSQL).
public struct SenderProcess: Sendable, Equatable {
    public var host: String
    /// "pid:start-time" (the start time in clock ticks since boot, from /proc on Linux).
    public var process: String

    public static let current = SenderProcess(host: hostName(), process: identity(of: getpid()) ?? "\(getpid())")

    /// Whether the sender a store's `senders` row describes still runs: its heartbeat is
    /// younger than `lease` (Unix seconds) and, when it is on this host (`here`), its
    /// process is there. No row (all nil): gone. The rule every store presumes death by.
    public static func isAlive(host: String?, process: String?, heartbeatAt: Int64?, now: Int64, lease: TimeInterval,
                               here: SenderProcess = .current) -> Bool {
        guard let host, let process, let heartbeatAt else { return false }
        return heartbeatAt >= now - Int64(lease) && (host != here.host || isAlive(process))
    }

    /// Whether the process named `process` on this host still runs.
    public static func isAlive(_ process: String) -> Bool {
        guard let pid = Int32(process.prefix { $0 != ":" }) else { return false }
        if let identity = identity(of: pid) { return identity == process }
        #if os(Linux)
        return false  // no /proc entry: gone
        #else
        return kill(pid, 0) == 0 || errno == EPERM
        #endif
    }

    public static func identity(of pid: Int32) -> String? {
        #if os(Linux)
        // Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces and
        // parentheses, so count from the last ')'.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return "\(pid):\(fields[19])"
        #else
        return nil
        #endif
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
