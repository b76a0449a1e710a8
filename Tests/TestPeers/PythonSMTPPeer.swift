import Foundation

/// `Tests/peers/smtp_peer.py`: an aiosmtpd server with STARTTLS, AUTH, per-recipient
/// replies and fault injection, recording what it received (see the script's header).
public struct PythonSMTPPeer: Sendable {
    public let process: PeerProcess
    public var port: Int { process.port }
    public var dumpDirectory: URL { process.directory.appendingPathComponent("dump") }

    /// Starts the script with `arguments` (`--pipelining`, `--cert F --key F`,
    /// `--implicit-tls`, `--user U --password P`, `--inject-after-starttls`, …).
    public static func start(_ arguments: [String] = []) async throws -> PythonSMTPPeer {
        let python = try TestPeers.executable("python3")
        let script = TestPeers.repositoryRoot.appendingPathComponent("Tests/peers/smtp_peer.py").path
        let directory = try TestPeers.makeTemporaryDirectory("aiosmtpd")
        let process = try await TestPeers.launch(
            "aiosmtpd", executable: python,
            arguments: ["-u", script, "--dump-dir", directory.appendingPathComponent("dump").path] + arguments,
            directory: directory)
        return PythonSMTPPeer(process: process)
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

    public func stop() { process.stopAndClean() }
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

/// A CA and a server certificate for 127.0.0.1 / localhost, made with the openssl CLI.
public struct TestCertificates: Sendable {
    public let directory: URL
    public var caFile: String { directory.appendingPathComponent("ca.pem").path }
    public var certificateFile: String { directory.appendingPathComponent("server.pem").path }
    public var keyFile: String { directory.appendingPathComponent("server.key").path }

    public static func make() throws -> TestCertificates {
        let openssl = try TestPeers.executable("openssl")
        let directory = try TestPeers.makeTemporaryDirectory("certs")
        func run(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = arguments
            process.currentDirectoryURL = directory
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw PeerError("openssl \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)")
            }
        }
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            .write(to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                 "-days", "2", "-subj", "/CN=Salvo Test CA"])
        try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                 "-subj", "/CN=localhost"])
        try run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.pem", "-days", "2", "-extfile", "san.ext"])
        return TestCertificates(directory: directory)
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
