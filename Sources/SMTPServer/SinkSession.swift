import Foundation

/// The server side of one SMTP session of `salvo sink`, with no I/O: lines in, replies
/// and captured messages out. It accepts every well-formed transaction, because its job
/// is to show a sender exactly what it sent.
///
/// It offers PIPELINING (replies come back in command order whatever the batching),
/// 8BITMIME, SMTPUTF8, SIZE and ENHANCEDSTATUSCODES, undoes dot-stuffing, and refuses
/// commands out of order the way a real MTA does (503 5.5.1), so a client bug shows.
public struct SinkSession: Sendable {
    public enum Action: Equatable, Sendable {
        case reply(String)
        /// A complete message: the envelope and the bytes as the client meant them
        /// (dot-stuffing undone, CRLF line ends).
        case deliver(SinkMessage)
        case close
    }

    private enum State: Equatable {
        case greeted
        case ready
        case mail
        case data
        case closed
    }

    private let hostname: String
    private let maxMessageBytes: Int
    private var state = State.greeted
    private var from = ""
    private var recipients: [String] = []
    private var body: [UInt8] = []
    private var tooLarge = false
    public private(set) var clientName: String?

    public init(hostname: String, maxMessageBytes: Int = 50 * 1024 * 1024) {
        self.hostname = hostname
        self.maxMessageBytes = maxMessageBytes
    }

    /// The 220 greeting, sent when the connection opens.
    public var greeting: String { "220 \(hostname) ESMTP salvo sink" }

    public var isClosed: Bool { state == .closed }

    /// One line from the client, without its CRLF.
    public mutating func receive(line: [UInt8]) -> [Action] {
        if state == .data { return receiveData(line) }
        if state == .closed { return [] }
        let text = String(decoding: line, as: UTF8.self)
        let verb = text.prefix(while: { $0 != " " }).uppercased()
        let argument = text.dropFirst(verb.count).drop(while: { $0 == " " })
        switch verb {
        case "EHLO":
            guard !argument.isEmpty else { return [.reply("501 5.5.4 EHLO needs a domain")] }
            clientName = String(argument)
            resetTransaction()
            state = .ready
            return [.reply("250-\(hostname) greets \(argument)\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE \(maxMessageBytes)")]
        case "HELO":
            guard !argument.isEmpty else { return [.reply("501 5.5.4 HELO needs a domain")] }
            clientName = String(argument)
            resetTransaction()
            state = .ready
            return [.reply("250 \(hostname)")]
        case "MAIL":
            guard state == .ready else { return [.reply(state == .greeted ? "503 5.5.1 EHLO first" : "503 5.5.1 MAIL already given")] }
            guard let path = Self.path(after: "FROM:", in: argument) else { return [.reply("501 5.5.4 Syntax: MAIL FROM:<address>")] }
            from = path
            state = .mail
            return [.reply("250 2.1.0 sender ok")]
        case "RCPT":
            guard state == .mail else { return [.reply("503 5.5.1 MAIL first")] }
            guard let path = Self.path(after: "TO:", in: argument), !path.isEmpty else {
                return [.reply("501 5.5.4 Syntax: RCPT TO:<address>")]
            }
            recipients.append(path)
            return [.reply("250 2.1.5 recipient ok")]
        case "DATA":
            guard state == .mail else { return [.reply("503 5.5.1 MAIL first")] }
            guard !recipients.isEmpty else { return [.reply("554 5.5.1 no valid recipients")] }
            state = .data
            return [.reply("354 end with <CRLF>.<CRLF>")]
        case "RSET":
            resetTransaction()
            if state != .greeted { state = .ready }
            return [.reply("250 2.0.0 reset")]
        case "NOOP":
            return [.reply("250 2.0.0 ok")]
        case "QUIT":
            state = .closed
            return [.reply("221 2.0.0 bye"), .close]
        case "STARTTLS", "AUTH", "BDAT":
            return [.reply("502 5.5.1 not offered by the sink")]
        default:
            return [.reply("500 5.5.2 unknown command")]
        }
    }

    /// The client went away; nothing half-received is delivered.
    public mutating func connectionClosed() {
        state = .closed
    }

    private mutating func receiveData(_ line: [UInt8]) -> [Action] {
        if line == [UInt8(ascii: ".")] {
            let message = SinkMessage(from: from, recipients: recipients, data: body, client: clientName)
            let oversized = tooLarge
            resetTransaction()
            state = .ready
            if oversized { return [.reply("552 5.3.4 message larger than \(maxMessageBytes) bytes")] }
            return [.deliver(message), .reply("250 2.0.0 queued in the sink")]
        }
        let content = line.first == UInt8(ascii: ".") ? line.dropFirst() : line[...]
        if body.count + content.count + 2 > maxMessageBytes {
            tooLarge = true
        } else if !tooLarge {
            body.append(contentsOf: content)
            body.append(contentsOf: [0x0D, 0x0A])
        }
        return []
    }

    private mutating func resetTransaction() {
        from = ""
        recipients = []
        body = []
        tooLarge = false
    }

    /// `FROM:<a@b> SIZE=10` → `a@b`; nil when malformed.
    static func path(after keyword: String, in argument: Substring) -> String? {
        guard argument.uppercased().hasPrefix(keyword) else { return nil }
        let rest = argument.dropFirst(keyword.count).drop(while: { $0 == " " })
        guard rest.hasPrefix("<"), let close = rest.firstIndex(of: ">") else { return nil }
        return String(rest[rest.index(after: rest.startIndex)..<close])
    }
}

/// A message `salvo sink` received.
public struct SinkMessage: Equatable, Sendable {
    public var from: String
    public var recipients: [String]
    /// The message as the client meant it, CRLF line ends.
    public var data: [UInt8]
    /// The EHLO/HELO name the client gave.
    public var client: String?

    /// The Subject header's raw value, for a one-line summary.
    public var subject: String? {
        let text = String(decoding: data.prefix(16 * 1024), as: UTF8.self)
        for line in text.components(separatedBy: "\r\n") {
            if line.isEmpty { break }
            if line.lowercased().hasPrefix("subject:") { return String(line.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}
