/// An SMTP session or transaction failed. The description names the server, the command
/// and the reply: `smtp 127.0.0.1:2525: after RCPT TO:<a@b.test>: 421 4.3.0 closing`.
///
/// Codes are static members, so new ones never break a caller's `switch`.
public struct SMTPError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectFailed, connectTimeout, greetingRejected, serviceNotAvailable, heloRejected
            case tlsRequiredButNotOffered, startTLSRefused, unencryptedDataAfterStartTLS, tlsHandshakeFailed
            case plaintextAuthRefused, authNotOffered, noSupportedAuthMechanism, authenticationFailed
            case unexpectedReply, malformedReply, replyTimeout, connectionClosed, connectionClosedAfterData
            case invalidAddress, noRecipients, connectionNotUsable, busy, contentWithheld
            case protocolViolation, certificateNotTrusted, sourceAddressUnavailable
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// TCP connect failed (refused, unreachable, DNS).
        public static let connectFailed = Code(.connectFailed)
        public static let connectTimeout = Code(.connectTimeout)
        /// The greeting was 554 (or another failure): the server will not talk to us.
        public static let greetingRejected = Code(.greetingRejected)
        /// 421: the server is closing the channel (at the greeting or later).
        public static let serviceNotAvailable = Code(.serviceNotAvailable)
        /// Both EHLO and HELO were refused.
        public static let heloRejected = Code(.heloRejected)
        /// TLS is required and the server does not offer STARTTLS: no downgrade.
        public static let tlsRequiredButNotOffered = Code(.tlsRequiredButNotOffered)
        /// TLS is required and the server refused STARTTLS.
        public static let startTLSRefused = Code(.startTLSRefused)
        /// Bytes arrived after the 220 to STARTTLS and before the TLS handshake: a
        /// command-injection attempt (CVE-2011-0411 class); the session is dropped.
        public static let unencryptedDataAfterStartTLS = Code(.unencryptedDataAfterStartTLS)
        public static let tlsHandshakeFailed = Code(.tlsHandshakeFailed)
        /// AUTH over a clear-text connection without `allowPlaintextAuth`.
        public static let plaintextAuthRefused = Code(.plaintextAuthRefused)
        public static let authNotOffered = Code(.authNotOffered)
        public static let noSupportedAuthMechanism = Code(.noSupportedAuthMechanism)
        public static let authenticationFailed = Code(.authenticationFailed)
        public static let unexpectedReply = Code(.unexpectedReply)
        /// The server sent bytes that are not a reply (garbage, overlong line, …).
        public static let malformedReply = Code(.malformedReply)
        /// The server did not answer within the RFC 5321 §4.5.3.2 time limit.
        public static let replyTimeout = Code(.replyTimeout)
        public static let connectionClosed = Code(.connectionClosed)
        /// The connection dropped after the message was sent and before its reply, or a
        /// reply after the content was out could not be matched to it: the message may or
        /// may not have been delivered (RFC 1047). Do not resend silently.
        public static let connectionClosedAfterData = Code(.connectionClosedAfterData)
        /// A reply that cannot answer the command it would be matched to (one too many,
        /// one missing, out of order, a 2xx to DATA), before any of the message's content
        /// was sent: the connection was dropped, no reply was attributed to a recipient,
        /// and nothing was delivered. Content that may have left turns the same fault
        /// into `connectionClosedAfterData`.
        public static let protocolViolation = Code(.protocolViolation)
        /// The server's certificate did not verify (chain or name) where verification is
        /// required: a relay, or `tls: verify`.
        public static let certificateNotTrusted = Code(.certificateNotTrusted)
        /// The configured source address cannot be used: not an address of this host, not
        /// an IP address, or of another family than the server's. The sender's setup.
        public static let sourceAddressUnavailable = Code(.sourceAddressUnavailable)
        /// An envelope address contains CR, LF, `<`, `>` or control characters.
        public static let invalidAddress = Code(.invalidAddress)
        public static let noRecipients = Code(.noRecipients)
        /// `send` on a connection that failed, was closed, or is being quit.
        public static let connectionNotUsable = Code(.connectionNotUsable)
        /// `send` while another operation is running on the same connection.
        public static let busy = Code(.busy)
        /// The caller withdrew a transaction's held content after the 354; the
        /// connection was dropped and nothing of the message was sent.
        public static let contentWithheld = Code(.contentWithheld)
    }

    public var code: Code
    /// `host:port` of the server, filled in by `SMTPConnection`.
    public var server: String?
    /// The command the failure followed (credentials hidden).
    public var command: String?
    /// The server's reply, when there was one.
    public var reply: SMTPReply?
    /// What else is worth saying (underlying error, the unexpected bytes, a limit).
    public var detail: String?

    public init(_ code: Code, command: String? = nil, reply: SMTPReply? = nil, detail: String? = nil, server: String? = nil) {
        self.code = code
        self.command = command
        self.reply = reply
        self.detail = detail
        self.server = server
    }

    /// True when the message's content may have reached the server before the failure:
    /// its delivery is in doubt (record it `unknown`, never resend it silently). False for
    /// every failure before content, which leaves the message undelivered.
    public var contentMayHaveReachedServer: Bool { code == .connectionClosedAfterData }

    public var description: String {
        var parts = ["smtp \(server ?? "?")"]
        parts.append(Self.summaries[code] ?? code.description)
        if let command { parts.append("after \(command)") }
        if let reply { parts.append("server replied \"\(reply.description.split(separator: "\n").joined(separator: " / "))\"") }
        if let detail { parts.append(detail) }
        return parts.joined(separator: ": ")
    }

    private static let summaries: [Code: String] = [
        .connectFailed: "cannot connect",
        .connectTimeout: "connect timed out",
        .greetingRejected: "server refused the session at its greeting",
        .serviceNotAvailable: "server is closing the connection (421)",
        .heloRejected: "server refused EHLO and HELO",
        .tlsRequiredButNotOffered: "TLS is required but the server does not offer STARTTLS",
        .startTLSRefused: "TLS is required but the server refused STARTTLS",
        .unencryptedDataAfterStartTLS: "server sent plaintext after its reply to STARTTLS (possible command injection); connection dropped",
        .tlsHandshakeFailed: "TLS handshake failed",
        .plaintextAuthRefused: "refusing to send credentials over a clear-text connection (set allow_plaintext_auth to permit it)",
        .authNotOffered: "credentials are configured but the server does not offer AUTH",
        .noSupportedAuthMechanism: "server offers no AUTH mechanism Salvo supports (PLAIN, LOGIN)",
        .authenticationFailed: "authentication failed",
        .unexpectedReply: "unexpected reply",
        .malformedReply: "malformed reply",
        .replyTimeout: "server stopped answering",
        .connectionClosed: "connection closed by the server",
        .connectionClosedAfterData: "connection dropped after the message was sent, before its reply was known: delivery unknown",
        .protocolViolation: "server's reply does not match the command sent (connection dropped before the message was sent)",
        .certificateNotTrusted: "server certificate not trusted",
        .contentWithheld: "message withheld after the 354 (connection dropped, nothing of the message sent)",
        .invalidAddress: "invalid envelope address",
        .noRecipients: "transaction has no recipients",
        .connectionNotUsable: "connection is no longer usable",
        .busy: "connection is busy with another operation",
    ]
}
