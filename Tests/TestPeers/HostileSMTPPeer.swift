import Foundation

/// `Tests/peers/hostile_smtp.py`: an SMTP server with one misbehaviour per run (a 421
/// greeting, a greeting dripped byte by byte, DATA answered 250, one reply too many, AUTH
/// refused, a non-FQDN HELO refused, …; the script's header lists the modes), recording
/// every line it received and every reply it sent, so a fault test asserts what the peer
/// saw as well as how every recipient ended.
public struct HostileSMTPPeer: Sendable {
    public let process: PeerProcess
    public let mode: String
    /// The events as the peer writes them (the same lines as `events.jsonl`).
    let stream: LineStream
    public var port: Int { process.port }
    var eventsURL: URL { process.directory.appendingPathComponent("events.jsonl") }

    /// Starts the script in `mode` (`--drip-interval S`, `--session-limit S` may follow).
    public static func start(mode: String, _ arguments: [String] = []) async throws -> HostileSMTPPeer {
        let python = try TestPeers.executable("python3")
        let script = TestPeers.repositoryRoot.appendingPathComponent("Tests/peers/hostile_smtp.py").path
        let directory = try TestPeers.makeTemporaryDirectory("hostile-\(mode)")
        let stream = try LineStream(path: directory.appendingPathComponent("events.pipe").path)
        do {
            let process = try await TestPeers.launch(
                "hostile-smtp", executable: python,
                arguments: ["-u", script, "--mode", mode, "--events", directory.appendingPathComponent("events.jsonl").path,
                            "--events-pipe", stream.path] + arguments,
                directory: directory)
            return HostileSMTPPeer(process: process, mode: mode, stream: stream)
        } catch {
            stream.close()
            throw error
        }
    }

    /// Every event so far, in order.
    public func events() throws -> [HostileEvent] {
        guard let data = try? Data(contentsOf: eventsURL) else { return [] }
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(HostileEvent.self, from: Data($0)) }
    }

    /// Connections accepted so far.
    public func connections() throws -> Int { try events().filter { $0.event == "connect" }.count }
    /// Lines received that start with `verb` (`EHLO`, `AUTH`, `MAIL`, `RCPT`, `DATA`, …).
    public func commands(_ verb: String) throws -> [String] {
        try events().compactMap { $0.event == "line" ? $0.text : nil }.filter { $0.uppercased().hasPrefix(verb) }
    }
    /// Login attempts (each refused in `auth-535`).
    public func logins() throws -> Int { try events().filter { $0.event == "auth" }.count }
    /// Messages whose content the peer took (a 250 after the final dot).
    public func messages() throws -> [HostileEvent] { try events().filter { $0.event == "message" } }
    /// The most sessions each client address had open at once, in the order the peer saw
    /// its connects and disconnects.
    public static func mostOpenAtOnce(byClient events: [HostileEvent]) -> [String: Int] {
        var clientOf: [Int: String] = [:]
        var open: [String: Int] = [:]
        var most: [String: Int] = [:]
        for event in events {
            switch event.event {
            case "connect":
                guard let client = event.client else { continue }
                clientOf[event.session] = client
                open[client, default: 0] += 1
                most[client] = max(most[client] ?? 0, open[client]!)
            case "disconnect":
                if let client = clientOf[event.session] { open[client, default: 0] -= 1 }
            default:
                continue
            }
        }
        return most
    }

    /// Sessions open now (from the last connect or disconnect event).
    public func openSessions() throws -> Int {
        try events().last(where: { $0.event == "connect" || $0.event == "disconnect" })?.open ?? 0
    }

    /// Waits until `condition` holds on the events, woken by each event the peer writes;
    /// `deadline` is a hang guard, never a measurement.
    public func waitFor(deadline: Duration = .seconds(60), _ what: String,
                        _ condition: @escaping @Sendable ([HostileEvent]) -> Bool) async throws {
        let held = await stream.waitFor(deadline: deadline) { lines in
            condition(lines.compactMap { try? JSONDecoder().decode(HostileEvent.self, from: Data($0.utf8)) })
        }
        if !held { throw PeerError("hostile peer (\(mode)): \(what) did not happen before the hang guard") }
    }

    public func stop() {
        process.stopAndClean()
        stream.close()
    }
}

public struct HostileEvent: Decodable, Sendable, Hashable {
    public var event: String
    public var session: Int
    public var text: String?
    public var open: Int?
    public var success: Bool?
    public var rcpts: [String]?
    public var bytes: Int?
    /// For `connect`: the address the client connected from.
    public var client: String?
}
