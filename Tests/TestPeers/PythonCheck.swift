import Foundation

/// Runs a Python script from `Tests/peers` with bytes on stdin and returns its stdout:
/// how tests ask independent implementations (Python's `email` package, `dkimpy`)
/// what they make of Salvo's output.
public enum PythonCheck {
    /// `Tests/peers`, found from this file's location in the source tree.
    public static let peersDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("peers")

    public struct Failure: Error, CustomStringConvertible {
        public let script: String
        public let status: Int32
        public let stderr: String
        public var description: String { "python3 \(script) exited with \(status): \(stderr)" }
    }

    /// Runs `python3 Tests/peers/<script> arguments…`, feeding `input` on stdin.
    /// Throws `Failure` (with stderr) when the script exits non-zero.
    public static func run(_ script: String, arguments: [String] = [], input: [UInt8]) throws -> [UInt8] {
        let path = peersDirectory.appendingPathComponent(script).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", path] + arguments
        let stdin = Pipe()
        let stdout = Pipe()
        // stderr goes to a file so a chatty script can never fill a pipe and stall.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("pythoncheck-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: errorFile)
        defer {
            try? errorHandle.close()
            try? FileManager.default.removeItem(at: errorFile)
        }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = errorHandle
        try process.run()
        // Read stdout on another thread while stdin is written, so neither side can
        // block on a full pipe.
        let collected = OutputCollector()
        let reader = Thread {
            collected.set((try? stdout.fileHandleForReading.readAllData()) ?? Data())
        }
        reader.start()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        let output = collected.wait()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            throw Failure(script: script, status: process.terminationStatus, stderr: message)
        }
        return Array(output)
    }

    /// Sends `request` as JSON and decodes the JSON reply.
    public static func json<Request: Encodable, Reply: Decodable>(_ script: String, _ request: Request, as: Reply.Type) throws -> Reply {
        let output = try run(script, input: Array(try JSONEncoder().encode(request)))
        return try JSONDecoder().decode(Reply.self, from: Data(output))
    }
}

private final class OutputCollector: @unchecked Sendable {
    private let condition = NSCondition()
    private var data: Data?

    func set(_ data: Data) {
        condition.lock()
        self.data = data
        condition.signal()
        condition.unlock()
    }

    func wait() -> Data {
        condition.lock()
        while data == nil { condition.wait() }
        let result = data!
        condition.unlock()
        return result
    }
}

/// What Python's `email` package makes of a message (`Tests/peers/mime/parse.py`).
public struct ParsedMessage: Decodable, Sendable {
    public struct Tree: Decodable, Sendable, Equatable, CustomStringConvertible {
        public let contentType: String
        public let parts: [Tree]?
        public var description: String {
            guard let parts else { return contentType }
            return "\(contentType)[\(parts.map(\.description).joined(separator: ", "))]"
        }
    }

    public struct Leaf: Decodable, Sendable {
        public let contentType: String
        public let charset: String?
        public let transferEncoding: String?
        public let filename: String?
        public let disposition: String?
        public let text: String?
        public let sha256: String?
        public let size: Int?
    }

    /// To, From and Subject decoded by the RFC 2047 decoder alone ("to", "from",
    /// "subject"), e.g. `Zoë <zoe@example.fr>`.
    public let rfc2047: [String: String]
    /// Name and decoded value, in order.
    public let headers: [[String]]
    public let headerNames: [String]
    /// "to"/"from" → [[display name, address]].
    public let addresses: [String: [[String]]]
    public let tree: Tree
    public let leaves: [Leaf]
    public let defects: [String]
    public let maxLine: Int
    public let bareLineBreak: Bool
    public let endsWithCrlf: Bool

    /// The decoded value of the first header called `name`.
    public func header(_ name: String) -> String? {
        headers.first { $0[0].lowercased() == name.lowercased() }?[1]
    }

    /// Parses every message in one run of Python.
    public static func parse(_ messages: [[UInt8]]) throws -> [ParsedMessage] {
        struct Request: Encodable { let messages: [String] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let output = try PythonCheck.run(
            "mime/parse.py",
            input: Array(try JSONEncoder().encode(Request(messages: messages.map { Data($0).base64EncodedString() })))
        )
        return try decoder.decode([ParsedMessage].self, from: Data(output))
    }
}

/// dkimpy's verdict on a message (`Tests/peers/mime/dkim_verify.py`).
public struct DKIMVerdict: Decodable, Sendable {
    /// Every signature verified.
    public let ok: Bool
    /// How many DKIM-Signature fields the message has.
    public let signatures: Int
    public let log: String

    /// Verifies every message in one run; `records` maps
    /// `selector._domainkey.domain` to the TXT record text.
    public static func verify(_ messages: [[UInt8]], records: [String: String]) throws -> [DKIMVerdict] {
        struct Request: Encodable {
            let records: [String: String]
            let messages: [String]
        }
        let request = Request(records: records, messages: messages.map { Data($0).base64EncodedString() })
        return try PythonCheck.json("mime/dkim_verify.py", request, as: [DKIMVerdict].self)
    }
}
