import Foundation

/// `Tests/peers/smtp_peer.py`: an aiosmtpd server with STARTTLS, AUTH, per-recipient
/// replies and fault injection, recording what it received (see the script's header).
public struct PythonSMTPPeer: Sendable {
    public let process: PeerProcess
    /// The events as the peer writes them (the same lines as `events.jsonl`).
    let stream: LineStream
    public var port: Int { process.port }
    public var dumpDirectory: URL { process.directory.appendingPathComponent("dump") }

    /// Starts the script with `arguments` (`--pipelining`, `--cert F --key F`,
    /// `--implicit-tls`, `--user U --password P`, `--inject-after-starttls`, …).
    public static func start(_ arguments: [String] = []) async throws -> PythonSMTPPeer {
        let python = try TestPeers.executable("python3")
        let script = TestPeers.repositoryRoot.appendingPathComponent("Tests/peers/smtp_peer.py").path
        let directory = try TestPeers.makeTemporaryDirectory("aiosmtpd")
        let stream = try LineStream(path: directory.appendingPathComponent("events.pipe").path)
        do {
            let process = try await TestPeers.launch(
                "aiosmtpd", executable: python,
                arguments: ["-u", script, "--dump-dir", directory.appendingPathComponent("dump").path,
                            "--events-pipe", stream.path] + arguments,
                directory: directory)
            return PythonSMTPPeer(process: process, stream: stream)
        } catch {
            stream.close()
            throw error
        }
    }

    /// Waits until `condition` holds on the events, woken by each event the peer writes;
    /// `deadline` is a hang guard, never a measurement.
    public func waitFor(deadline: Duration = .seconds(60), _ what: String,
                        _ condition: @escaping @Sendable ([PeerEvent]) -> Bool) async throws {
        let held = await stream.waitFor(deadline: deadline) { lines in
            condition(lines.compactMap { try? JSONDecoder().decode(PeerEvent.self, from: Data($0.utf8)) })
        }
        if !held { throw PeerError("aiosmtpd peer: \(what) did not happen before the hang guard") }
    }

    /// Every event recorded so far, in order.
    public func events() throws -> [PeerEvent] {
        let url = dumpDirectory.appendingPathComponent("events.jsonl")
        guard let data = try? Data(contentsOf: url) else { return [] }
        return try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(PeerEvent.self, from: Data($0)) }
    }

    /// Every message accepted so far, in order.
    public func messages() throws -> [PeerMessage] {
        var messages: [PeerMessage] = []
        var number = 1
        while let data = try? Data(contentsOf: dumpDirectory.appendingPathComponent("message-\(number).json")) {
            messages.append(try JSONDecoder().decode(PeerMessage.self, from: data))
            number += 1
        }
        return messages
    }

    public func stop() {
        process.stopAndClean()
        stream.close()
    }
}

public struct PeerEvent: Decodable, Sendable, Hashable {
    public var event: String
    public var session: Int
    public var address: String?
    public var name: String?
    public var mechanism: String?
    public var success: Bool?
    public var login: String?
    public var tls: Bool?
    public var options: [String]?
    /// On connect and disconnect: the sessions open at that moment.
    public var open: Int?
    /// When the server recorded it (Unix seconds, the server's clock).
    public var at: Double?
    /// On `data`: the number of the message file (`message-N.json`).
    public var message: Int?
}

public struct PeerMessage: Decodable, Sendable, Hashable {
    public var mail_from: String
    public var mail_options: [String]
    public var rcpt_tos: [String]
    public var session: Int
    private var data: String
    /// The message bytes the server kept, dot-stuffing undone, CRLF line ends.
    public var bytes: [UInt8] { [UInt8](Data(base64Encoded: data) ?? Data()) }
}
