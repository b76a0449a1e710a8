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
    }

    /// Runs salvo with `arguments` in `directory` and waits (at most `timeout` seconds).
    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:], timeout: Double = 120) throws -> Result {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        env["SALVO_CONFIG"] = nil
        env["SALVO_DB"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the process runs so a full pipe never blocks it.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData = (try? out.fileHandleForReading.readAllData()) ?? Data(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = (try? err.fileHandleForReading.readAllData()) ?? Data(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        group.wait()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
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
    static func initProject(editing edits: [(String, String)] = [], recipients: String? = nil) throws -> String {
        let dir = try temporaryDirectory()
        let initialised = try run(["init"], in: dir)
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

    /// An `initProject` routed to the smtp-sink on `port`, with `count` recipients
    /// (`p0@example.com`…, all in the welcome campaign's segment) sent at most `rate` a
    /// second, its list imported and its campaign created.
    static func slowCampaignProject(port: Int, recipients count: Int, rate: Int) throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<count { csv += "p\(i)@example.com,P,\(i),NG,new\n" }
        let dir = try initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(port)"),
            ("default: { connections: 5,", "default: { rate: \(rate)/s, connections: 5,"),
        ], recipients: csv)
        for step in [["import", "customers", "recipients.csv"], ["campaign", "create", "welcome.yml"]] {
            let result = try run(step, in: dir)
            guard result.status == 0 else { throw ProjectError(message: "salvo \(step.joined(separator: " ")) failed: \(result.stderr)") }
        }
        return dir
    }

    struct ProjectError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
