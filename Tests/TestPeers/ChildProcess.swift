import Foundation

/// A program run to its end without blocking a thread of the tests' shared concurrency
/// pool: its input and output are files, and its exit resumes the caller. (A test that
/// waited for a child on a pool thread held up every other test's tasks meanwhile.)
public enum ChildProcess {
    public struct Finished: Sendable {
        public let status: Int32
        /// What it wrote to standard output (and standard error, when they were joined).
        public let output: [UInt8]
        /// What it wrote to standard error when that was kept apart.
        public let errors: String

        /// `output` as text, for an error message.
        public var text: String { String(decoding: output, as: UTF8.self) }
    }

    /// Runs `executable` with `arguments`, `input` on its standard input and `environment`
    /// over this process's; `joinErrors` sends its standard error to the output.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [],
                           environment: [String: String] = [:], joinErrors: Bool = false) async throws -> Finished {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let inputFile = folder.appendingPathComponent("in"), outputFile = folder.appendingPathComponent("out"), errorFile = folder.appendingPathComponent("err")
        try Data(input).write(to: inputFile)
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let stdin = try FileHandle(forReadingFrom: inputFile), stdout = try FileHandle(forWritingTo: outputFile), stderr = try FileHandle(forWritingTo: errorFile)
        defer { try? stdin.close(); try? stdout.close(); try? stderr.close() }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = joinErrors ? stdout : stderr
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return Finished(status: status, output: Array(try Data(contentsOf: outputFile)),
                        errors: (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "")
    }
}
