/// Reading a POP3 mailbox failed. The description names the server, the command and the
/// server's line: `pop3s 127.0.0.1:995: command refused: after RETR 3: server said "-ERR no such message"`.
///
/// Codes are static members, so new ones never break a caller's `switch`.
public struct POP3Error: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidURL, connectFailed, connectTimeout, tlsHandshakeFailed, greetingRejected
            case userLoginNotOffered, authenticationFailed, commandRefused, uniqueIDsNotSupported
            case malformedResponse, unexpectedResponse, lineTooLong, responseTooLarge, truncatedResponse
            case connectionClosed, responseTimeout, connectionNotUsable, quitFailed, invalidArgument
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// The `pop3s://` address is malformed or uses another scheme.
        public static let invalidURL = Code(.invalidURL)
        public static let connectFailed = Code(.connectFailed)
        public static let connectTimeout = Code(.connectTimeout)
        /// TLS could not be set up: untrusted certificate, wrong name, a peer not speaking TLS.
        public static let tlsHandshakeFailed = Code(.tlsHandshakeFailed)
        /// The greeting was `-ERR`: the server will not serve us.
        public static let greetingRejected = Code(.greetingRejected)
        /// CAPA shows no USER capability, so the password cannot be sent with USER/PASS.
        public static let userLoginNotOffered = Code(.userLoginNotOffered)
        /// USER or PASS was answered `-ERR`.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// A transaction command (STAT, LIST, RETR, DELE, …) was answered `-ERR`.
        public static let commandRefused = Code(.commandRefused)
        /// UIDL was refused: without unique ids a message cannot be recognised across
        /// sessions, so an import could not tell what it already processed.
        public static let uniqueIDsNotSupported = Code(.uniqueIDsNotSupported)
        /// A line that is neither `+OK` nor `-ERR`, or a listing line that does not parse.
        public static let malformedResponse = Code(.malformedResponse)
        /// The server sent a line when no response was awaited.
        public static let unexpectedResponse = Code(.unexpectedResponse)
        /// A line longer than the limit; the line is cut in the error.
        public static let lineTooLong = Code(.lineTooLong)
        /// A multi-line response larger than the limit (a message or a listing).
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The connection ended inside a multi-line response, before its terminating ".".
        public static let truncatedResponse = Code(.truncatedResponse)
        public static let connectionClosed = Code(.connectionClosed)
        public static let responseTimeout = Code(.responseTimeout)
        /// A request on a session that failed, closed, or is busy with another request.
        public static let connectionNotUsable = Code(.connectionNotUsable)
        /// QUIT was not acknowledged with `+OK`: the server did not enter its update state,
        /// so messages marked for deletion in this session were not deleted.
        public static let quitFailed = Code(.quitFailed)
        /// A user name or argument with CR, LF or other control characters.
        public static let invalidArgument = Code(.invalidArgument)
    }

    public var code: Code
    /// `host:port` of the server.
    public var server: String?
    /// The command the failure followed; the password is never shown.
    public var command: String?
    /// The server's line (escaped and cut to a readable length), when there was one.
    public var line: String?
    /// What else is worth saying (underlying error, a limit, byte counts).
    public var detail: String?

    public init(_ code: Code, command: String? = nil, line: String? = nil, detail: String? = nil, server: String? = nil) {
        self.code = code
        self.command = command
        self.line = line
        self.detail = detail
        self.server = server
    }

    public var description: String {
        var parts = ["pop3s \(server ?? "?")"]
        parts.append(Self.summaries[code] ?? code.description)
        if let command { parts.append("after \(command)") }
        if let line { parts.append("server said \"\(line)\"") }
        if let detail { parts.append(detail) }
        return parts.joined(separator: ": ")
    }

    private static let summaries: [Code: String] = [
        .invalidURL: "invalid mailbox address",
        .connectFailed: "cannot connect",
        .connectTimeout: "connect timed out",
        .tlsHandshakeFailed: "TLS handshake failed",
        .greetingRejected: "server refused the session at its greeting",
        .userLoginNotOffered: "server does not offer USER/PASS login (CAPA lacks USER)",
        .authenticationFailed: "login failed",
        .commandRefused: "command refused",
        .uniqueIDsNotSupported: "server does not support UIDL, which identifies messages across sessions",
        .malformedResponse: "malformed response",
        .unexpectedResponse: "server sent a line no command asked for",
        .lineTooLong: "response line too long",
        .responseTooLarge: "multi-line response too large",
        .truncatedResponse: "connection ended inside a multi-line response, before its terminating \".\"",
        .connectionClosed: "connection closed by the server",
        .responseTimeout: "server stopped answering",
        .connectionNotUsable: "session is no longer usable",
        .quitFailed: "QUIT was not acknowledged: messages marked for deletion were not deleted",
        .invalidArgument: "invalid argument",
    ]

    /// Shows a server's bytes readably: printable ASCII as is, others as `\xNN`, cut at
    /// `limit` characters with "…".
    static func printable(_ bytes: some Collection<UInt8>, limit: Int = 120) -> String {
        let shown = bytes.prefix(limit).map { byte -> String in
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
        }.joined()
        return bytes.count > limit ? shown + "…" : shown
    }
}
