import Campaigns
import Foundation
import Logging
import MailMessage
import ServiceLifecycle
import TestPeers
import Web

/// A `WebServer` listening on a port of 127.0.0.1 the system picked, over a new store,
/// with a clock the test moves and a log it reads. Stopped by a graceful shutdown.
final class RunningWebServer: Sendable {
    /// The store the server answers from.
    let served: any WebStore
    /// The SQLite store the server answers from, for the tests that start it on one.
    var store: SalvoStore { served as! SalvoStore }
    let port: Int
    let client: WebClient
    let clock: FakeClock
    let log: RecordedLog
    let settings: WebSettings
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static let secret = Array("the web tests' unsubscribe secret, long enough".utf8)

    static func start(store: (any WebStore)? = nil, messages: DeliveryMessages? = nil,
                      configure: (inout WebSettings) -> Void = { _ in }) async throws -> RunningWebServer {
        let store = try store ?? SalvoStore(path: FileManager.default.temporaryDirectory.appendingPathComponent("web-\(UUID().uuidString).db").path)
        var settings = WebSettings(host: "127.0.0.1", port: 0, publicURL: nil, secret: secret)
        configure(&settings)
        let clock = FakeClock(startDate: Date(timeIntervalSince1970: 1_800_000_000))
        let log = RecordedLog()
        var logger = Logger(label: "salvo.web.test") { _ in RecordingLogHandler(recorded: log) }
        logger.logLevel = .debug
        var server = WebServer(settings: settings, store: store, logger: logger, clock: { clock.date })
        server.messages = messages
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let service = server.service { port in continuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        // The stream ends if the group stops before listening (a port in use), so the
        // wait below cannot hang. The server's tasks run on a thread of their own, so its
        // deadlines and answers do not wait for the rest of the suite's work.
        let task = Task(executorPreference: DedicatedThreadExecutor(name: "web test server")) {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw PeerError("the web server stopped before it listened") }
        return RunningWebServer(served: store, port: port, clock: clock, log: log, settings: settings, group: group, task: task)
    }

    private init(served: any WebStore, port: Int, clock: FakeClock, log: RecordedLog, settings: WebSettings, group: ServiceGroup, task: Task<Void, any Error>) {
        self.served = served
        self.port = port
        self.client = WebClient(port: port)
        self.clock = clock
        self.log = log
        self.settings = settings
        self.group = group
        self.task = task
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    func token(campaign: String = "spring-sale", recipient: String = "ann@example.org") -> String {
        UnsubscribeToken.make(campaign: campaign, recipient: recipient, secret: Self.secret)
    }
}

/// Every line the server logged, with its metadata, for the tests that check what a
/// log holds.
final class RecordedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []
    func append(_ line: String) { lock.withLock { entries.append(line) } }
    var lines: [String] { lock.withLock { entries } }
}

struct RecordingLogHandler: LogHandler {
    let recorded: RecordedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let all = metadata.merging(extra ?? [:]) { $1 }
        recorded.append("\(level) \(message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}
