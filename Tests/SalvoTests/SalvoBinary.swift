import Foundation
import TestPeers

/// Runs the `salvo` executable that `swift build` put beside the test bundle, the way a
/// user runs it.
struct SalvoBinary {
    static let url: URL = {
        // .build/<triple>/debug/SalvoPackageTests.xctest -> .build/<triple>/debug/salvo
        var directory = Bundle.main.bundleURL
        while directory.pathExtension == "xctest" || !FileManager.default.fileExists(atPath: directory.appendingPathComponent("salvo").path) {
            let parent = directory.deletingLastPathComponent()
            if parent == directory { break }
            directory = parent
        }
        return directory.appendingPathComponent("salvo")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// The process ended by a signal (`status` is then the signal's number).
        var signalled = false
        /// It was still running at the hang guard and was killed there.
        var timedOut = false
    }

    /// Runs salvo with `arguments` in `directory` and waits for it to end, without holding
    /// a thread of the test's concurrency pool. `timeout` is a hang guard: a process still
    /// running then is killed, and the result says so.
    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:],
                    timeout: Double = 120) async throws -> Result {
        try await start(arguments, in: directory, environment: environment).finished(timeout: timeout)
    }

    /// Starts salvo and returns at once, for a test that signals it while it works.
    static func start(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> Running {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        env["SALVO_CONFIG"] = nil
        env["SALVO_DB"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        return try Running(process)
    }

    /// A salvo process under way. Its output is read while it runs, so a full pipe never
    /// blocks it; its end and both pipes' ends are one dispatch group.
    final class Running: @unchecked Sendable {
        let process: Process
        private let done = DispatchGroup()
        private let lock = NSLock()
        private var outData = Data(), errData = Data()
        private var killedAtGuard = false

        fileprivate init(_ process: Process) throws {
            self.process = process
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            done.enter()
            process.terminationHandler = { [done] _ in done.leave() }
            do {
                try process.run()
            } catch {
                done.leave()
                throw error
            }
            done.enter()
            DispatchQueue.global().async { [self] in
                let data = (try? out.fileHandleForReading.readAllData()) ?? Data()
                lock.withLock { outData = data }
                done.leave()
            }
            done.enter()
            DispatchQueue.global().async { [self] in
                // Read as it comes, so a test can wait for a line while the process runs.
                while true {
                    let chunk = err.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    lock.withLock { errData.append(chunk) }
                }
                done.leave()
            }
        }

        /// What the process has written to stderr so far.
        var stderrSoFar: String { lock.withLock { String(decoding: errData, as: UTF8.self) } }

        var pid: Int32 { process.processIdentifier }

        func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

        /// Waits for the end (at most `timeout` seconds, then kills it) and collects what it
        /// printed.
        func finished(timeout: Double = 120) async -> Result {
            let hangGuard = DispatchWorkItem { [self] in
                lock.withLock { killedAtGuard = true }
                kill(process.processIdentifier, SIGKILL)
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: hangGuard)
            await withCheckedContinuation { continuation in
                done.notify(queue: .global()) { continuation.resume() }
            }
            hangGuard.cancel()
            return lock.withLock {
                Result(status: process.terminationStatus,
                       stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self),
                       signalled: process.terminationReason == .uncaughtSignal,
                       timedOut: killedAtGuard)
            }
        }
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension SalvoBinary {
    /// A new folder made by `salvo init`, with `edits` (text → replacement) applied to its
    /// salvo.yml and, when given, `recipients` as its recipients.csv.
    static func initProject(editing edits: [(String, String)] = [], recipients: String? = nil) async throws -> String {
        let dir = try temporaryDirectory()
        let initialised = try await run(["init"], in: dir)
        guard initialised.status == 0 else { throw ProjectError(message: "salvo init failed: \(initialised.stderr)") }
        var config = try String(contentsOfFile: dir + "/salvo.yml", encoding: .utf8)
        for (text, replacement) in edits {
            guard config.contains(text) else { throw ProjectError(message: "salvo.yml has no '\(text)' to replace") }
            config = config.replacingOccurrences(of: text, with: replacement)
        }
        try config.write(toFile: dir + "/salvo.yml", atomically: true, encoding: .utf8)
        if let recipients { try recipients.write(toFile: dir + "/recipients.csv", atomically: true, encoding: .utf8) }
        return dir
    }

    /// A project whose `count` recipients (`prefix0@example.com` …) all go to `port` at 2
    /// messages a second, imported, with the welcome campaign created: a send long enough
    /// for a test to act on it while it runs.
    static func slowProject(recipients count: Int, prefix: String, port: Int) async throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<count { csv += "\(prefix)\(i)@example.com,P,\(i),NG,new\n" }
        let dir = try await initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(port)"),
            ("default: { connections: 5,", "default: { rate: 2/s, connections: 5,"),
        ], recipients: csv)
        let imported = try await run(["import", "customers", "recipients.csv"], in: dir)
        guard imported.status == 0 else { throw ProjectError(message: "salvo import failed: \(imported.stderr)") }
        let created = try await run(["campaign", "create", "welcome.yml"], in: dir)
        guard created.status == 0 else { throw ProjectError(message: "salvo campaign create failed: \(created.stderr)") }
        return dir
    }

    /// An `initProject` routed to the peer on `port`, with `edits` and `recipients`, its
    /// list imported and its campaign created.
    static func campaignProject(port: Int, editing edits: [(String, String)] = [], recipients: String? = nil) async throws -> String {
        let dir = try await initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(port)")] + edits, recipients: recipients)
        for step in [["import", "customers", "recipients.csv"], ["campaign", "create", "welcome.yml"]] {
            let result = try await run(step, in: dir)
            guard result.status == 0 else { throw ProjectError(message: "salvo \(step.joined(separator: " ")) failed: \(result.stderr)") }
        }
        return dir
    }

    /// A `campaignProject` with `count` recipients (`p0@example.com`…, all in the welcome
    /// campaign's segment) sent at most `rate` a second.
    static func slowCampaignProject(port: Int, recipients count: Int, rate: Int) async throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<count { csv += "p\(i)@example.com,P,\(i),NG,new\n" }
        return try await campaignProject(port: port, editing: [("default: { connections: 5,", "default: { rate: \(rate)/s, connections: 5,")],
                                         recipients: csv)
    }

    struct ProjectError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
