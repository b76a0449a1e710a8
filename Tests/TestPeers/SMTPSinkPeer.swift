import Foundation

/// Postfix's `smtp-sink` on 127.0.0.1, dumping every transaction to a file so tests can
/// assert the envelope and the bytes it received.
public struct SMTPSinkPeer: Sendable {
    public let process: PeerProcess
    public var port: Int { process.port }
    public var dumpDirectory: URL { process.directory.appendingPathComponent("dump") }

    /// Starts `smtp-sink -u root -d DIR/%H%M%S. [options] 127.0.0.1:PORT backlog`.
    /// `options` are smtp-sink's own (`-r RCPT`, `-f RCPT`, `-q DATA`, `-p`, …). Pass
    /// `dump: false` to measure speed rather than content.
    /// `port` reuses a known port (a test that restarts a peer with other options).
    public static func start(options: [String] = [], dump: Bool = true, backlog: Int = 100, port fixedPort: Int? = nil) async throws -> SMTPSinkPeer {
        let executable = try TestPeers.executable("smtp-sink")
        var lastError: Error?
        // The free port may be taken between the probe and smtp-sink's bind; try again,
        // in a new folder (a failed launch removes its folder).
        for _ in 0..<3 {
            let directory = try TestPeers.makeTemporaryDirectory("smtp-sink")
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("dump"), withIntermediateDirectories: true)
            let port = try fixedPort ?? TestPeers.freePort()
            var arguments = ["-u", geteuid() == 0 ? "root" : NSUserName()]
            if dump { arguments += ["-d", directory.appendingPathComponent("dump").path + "/%H%M%S."] }
            arguments += options + ["127.0.0.1:\(port)", "\(backlog)"]
            do {
                let process = try await TestPeers.launch(
                    "smtp-sink", executable: executable, arguments: arguments, port: port, directory: directory)
                return SMTPSinkPeer(process: process)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? PeerError("smtp-sink did not start")
    }

    /// The transactions received so far (message complete), oldest file first.
    public func transactions() throws -> [SinkTransaction] {
        let files = try FileManager.default.contentsOfDirectory(at: dumpDirectory, includingPropertiesForKeys: [.contentModificationDateKey])
        let dated = files.map { url in
            (url, (try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast)
        }
        return try dated.sorted { ($0.1, $0.0.path) < ($1.1, $1.0.path) }.compactMap { file, _ in
            // smtp-sink opens the file when a transaction starts; one cut short by a
            // disconnect never gets its headers and was not delivered, and one it has
            // let go between the listing and the read was not either.
            guard let dump = try? Data(contentsOf: file), dump.count > 0, String(decoding: dump, as: UTF8.self).contains("\nReceived: ") else { return nil }
            return try SinkTransaction(dump: dump)
        }
    }

    /// How many times each envelope recipient (its address, without the angle brackets)
    /// has been received so far: what a test asks to tell "once" from "twice".
    public func receivedCounts() throws -> [String: Int] {
        var received: [String: Int] = [:]
        for transaction in try transactions() {
            for rcpt in transaction.rcptArgs { received[String(rcpt.dropFirst().dropLast()), default: 0] += 1 }
        }
        return received
    }

    /// How many transactions smtp-sink has started dumping: one file each, so this is a
    /// cheap count to poll while a send runs (it may include one cut short).
    public func transactionFileCount() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: dumpDirectory.path).count
    }

    public func stop() { process.stopAndClean() }
}

/// One transaction as smtp-sink dumped it. smtp-sink writes lines with LF and undoes
/// dot-stuffing, so `message` holds LF-ended lines.
public struct SinkTransaction: Sendable, Hashable {
    public var heloArgs: String?
    /// `<a@b.test> SIZE=123 BODY=8BITMIME`
    public var mailArgs: String
    /// `<c@d.test>`, one per RCPT, in order.
    public var rcptArgs: [String]
    /// The message as received (headers and body), LF line ends.
    public var message: [UInt8]

    init(dump: Data) throws {
        let bytes = [UInt8](dump)
        var index = 0
        var mailArgs: String?
        var rcptArgs: [String] = []
        var heloArgs: String?
        var receivedLines = 0
        while index < bytes.count {
            let end = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let line = String(decoding: bytes[index..<end], as: UTF8.self)
            index = end + 1
            if line.hasPrefix("X-Mail-Args: ") { mailArgs = String(line.dropFirst(13)) }
            else if line.hasPrefix("X-Rcpt-Args: ") { rcptArgs.append(String(line.dropFirst(13))) }
            else if line.hasPrefix("X-Helo-Args: ") { heloArgs = String(line.dropFirst(13)) }
            else if line.hasPrefix("Received: ") || receivedLines > 0 {
                receivedLines += 1
                if receivedLines == 3 { break }
            }
        }
        guard let mailArgs else { throw PeerError("smtp-sink dump without X-Mail-Args") }
        self.mailArgs = mailArgs
        self.rcptArgs = rcptArgs
        self.heloArgs = heloArgs
        // smtp-sink ends each dump with one empty line of its own.
        var message = Array(bytes[min(index, bytes.count)...])
        if message.last == UInt8(ascii: "\n") { message.removeLast() }
        self.message = message
    }
}
