import Foundation

/// Another process holding a write lock on a SQLite database (`Tests/peers/sqlite_lock.py`):
/// what a store must wait for rather than fail on.
public final class SQLiteLockHolder: @unchecked Sendable {
    public let process: Process
    private let output: URL

    /// Starts the holder and returns once it holds the lock (it lets go `seconds` later).
    /// With `countingDeliveriesIn` (an smtp-sink dump folder) it counts the sink's
    /// messages at the moment it takes the lock and the moment before it lets go
    /// (`delivered(at:)`).
    public static func hold(_ database: String, for seconds: Double, countingDeliveriesIn dump: URL? = nil) async throws -> SQLiteLockHolder {
        let holder = try SQLiteLockHolder(database: database, seconds: seconds, dump: dump)
        guard try await TestPeers.eventually(within: .seconds(60), { holder.said("locked") || !holder.process.isRunning }),
              holder.said("locked") else {
            holder.stop()
            throw PeerError("sqlite_lock.py did not take the lock on \(database): \(holder.printed)")
        }
        return holder
    }

    private init(database: String, seconds: Double, dump: URL?) throws {
        output = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-lock-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPeers.executable("python3"))
        process.arguments = [PythonCheck.peersDirectory.appendingPathComponent("sqlite_lock.py").path, database, String(seconds)] + (dump.map { [$0.path] } ?? [])
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// What it printed so far.
    public var printed: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// Whether it printed `line` ("locked", "released").
    public func said(_ line: String) -> Bool { printed.split(separator: "\n").contains { $0 == line } }

    /// The sink's message count it printed at `moment` ("lock" or "release"), nil before.
    public func delivered(at moment: String) -> Int? {
        printed.split(separator: "\n").lazy.compactMap { line -> Int? in
            guard line.hasPrefix("delivered-at-\(moment) ") else { return nil }
            return Int(line.split(separator: " ").last ?? "")
        }.first
    }

    /// Waits for it to let go (at most `deadline`, a hang guard); true when it did.
    public func released(within deadline: Duration = .seconds(120)) async throws -> Bool {
        try await TestPeers.eventually(within: deadline) { !process.isRunning } && said("released")
    }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: output)
    }

    deinit { stop() }
}
