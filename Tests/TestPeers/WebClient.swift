import Foundation

/// Python's http.client (`Tests/peers/web/http_client.py`) against a server on
/// 127.0.0.1: a real client on a real socket, run as a child process that is awaited,
/// not waited for, so a server in the same test process keeps its threads.
public struct WebClient: Sendable {
    public let port: Int

    public init(port: Int) { self.port = port }

    public struct Request: Encodable, Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: String?

        public init(_ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
        }

        /// What a mailbox provider sends to a List-Unsubscribe URL (RFC 8058).
        public static func oneClick(_ path: String) -> Request {
            Request("POST", path, headers: ["Content-Type": "application/x-www-form-urlencoded"], body: "List-Unsubscribe=One-Click")
        }

        /// A browser's post of a form's one hidden field.
        public static func form(_ path: String, _ fields: [String: String]) -> Request {
            let body = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            return Request("POST", path, headers: ["Content-Type": "application/x-www-form-urlencoded"], body: body)
        }
    }

    public struct Response: Decodable, Sendable {
        public let status: Int
        public let reason: String
        /// Names in lower case.
        public let headers: [String: String]
        public let body: String
    }

    public struct BurstResult: Decodable, Sendable {
        /// Status code (as text) to count.
        public let statuses: [String: Int]
        public let errors: [String]
        public let latenciesMs: [Double]

        enum CodingKeys: String, CodingKey {
            case statuses, errors
            case latenciesMs = "latencies_ms"
        }
    }

    public struct RawResult: Decodable, Sendable {
        public let reply: String
        /// The server closed the connection before the wait ended.
        public let closed: Bool
    }

    /// Each request on a connection of its own, in order.
    public func send(_ requests: [Request]) async throws -> [Response] {
        struct Job: Encodable { let port: Int; let requests: [Request] }
        return try await Self.run(Job(port: port, requests: requests), as: [Response].self)
    }

    public func send(_ request: Request) async throws -> Response {
        try await send([request])[0]
    }

    /// `paths` requested by `concurrency` clients at once, each keeping its connection.
    public func burst(paths: [String], request: Request, concurrency: Int) async throws -> BurstResult {
        struct Burst: Encodable {
            let paths: [String]; let method: String; let headers: [String: String]; let body: String; let concurrency: Int
        }
        struct Job: Encodable { let port: Int; let burst: Burst }
        let burst = Burst(paths: paths, method: request.method, headers: request.headers, body: request.body ?? "", concurrency: concurrency)
        return try await Self.run(Job(port: port, burst: burst), as: BurstResult.self)
    }

    /// `text` sent as written, then whatever comes back until the server closes or
    /// `wait` seconds pass (a hang guard, not a measurement).
    public func raw(_ text: String, wait: Double) async throws -> RawResult {
        struct Raw: Encodable { let send: String; let then_wait: Double }
        struct Job: Encodable { let port: Int; let raw: Raw }
        return try await Self.run(Job(port: port, raw: Raw(send: text, then_wait: wait)), as: RawResult.self)
    }

    static func run<Job: Encodable, Reply: Decodable>(_ job: Job, as: Reply.Type) async throws -> Reply {
        try await PythonCheck.json("web/http_client.py", job, as: Reply.self)
    }
}
