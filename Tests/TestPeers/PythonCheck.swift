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

    /// Runs `python3 Tests/peers/<script> arguments…`, feeding `input` on stdin, with
    /// `environment` over this process's. Throws `Failure` (with stderr) when the script
    /// exits non-zero. Awaited, never waited for (`ChildProcess`): a thread of the shared
    /// concurrency pool stays free meanwhile.
    public static func run(_ script: String, arguments: [String] = [], input: [UInt8],
                           environment: [String: String] = [:]) async throws -> [UInt8] {
        let finished = try await ChildProcess.run("/usr/bin/env", ["python3", peersDirectory.appendingPathComponent(script).path] + arguments,
                                                  input: input, environment: environment)
        guard finished.status == 0 else { throw Failure(script: script, status: finished.status, stderr: finished.errors) }
        return finished.output
    }

    /// Sends `request` as JSON and decodes the JSON reply.
    public static func json<Request: Encodable, Reply: Decodable>(_ script: String, _ request: Request, as: Reply.Type) async throws -> Reply {
        let output = try await run(script, input: Array(try JSONEncoder().encode(request)))
        return try JSONDecoder().decode(Reply.self, from: Data(output))
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
    public static func parse(_ messages: [[UInt8]]) async throws -> [ParsedMessage] {
        struct Request: Encodable { let messages: [String] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let output = try await PythonCheck.run(
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
    public static func verify(_ messages: [[UInt8]], records: [String: String]) async throws -> [DKIMVerdict] {
        struct Request: Encodable {
            let records: [String: String]
            let messages: [String]
        }
        let request = Request(records: records, messages: messages.map { Data($0).base64EncodedString() })
        return try await PythonCheck.json("mime/dkim_verify.py", request, as: [DKIMVerdict].self)
    }
}
