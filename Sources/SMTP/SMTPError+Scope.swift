extension SMTPError {
    /// The level a failure belongs to, as DESIGN.md's "Where a failure lands" names them.
    /// A recipient's own failures are not errors at all: they arrive as RCPT replies in
    /// `SMTPTransactionResult`.
    public enum Scope: Sendable, Hashable {
        /// This connection alone went wrong (lost, timed out mid-transaction, a reply out
        /// of order): drop it; what was on the wire is in doubt, the rest goes again.
        case connection
        /// The destination will not take mail now (a 421 or 554 greeting, a refused or
        /// timed-out connect, a failed TLS handshake): back-off and deferral for the site.
        case site
        /// The sender's own setup is wrong (credentials refused, AUTH in clear text, HELO
        /// refused, a relay without the TLS it needs): nobody's delivery is at fault; the
        /// route stops and the command says why.
        case sender
        /// This transaction's message or envelope cannot go (an invalid envelope address).
        case message
    }

    /// Where this failure belongs towards a destination the sender does not choose (an
    /// MX host). Towards a relay, use `scope(towardsRelay: true)`.
    public var scope: Scope { scope(towardsRelay: false) }

    /// Where this failure belongs. Towards a relay the TLS failures are the sender's: the
    /// relay is the sender's own choice, so are its certificate and its TLS, and no
    /// amount of waiting for the site mends them.
    public func scope(towardsRelay: Bool) -> Scope {
        switch code {
        case .tlsHandshakeFailed, .certificateNotTrusted, .tlsRequiredButNotOffered, .startTLSRefused:
            towardsRelay ? .sender : .site
        case .connectFailed, .connectTimeout, .greetingRejected:
            .site
        case .serviceNotAvailable:
            // 421 at the greeting or in answer to EHLO: the site is closing its doors.
            // Later in a session it still says the site is busy (RFC 5321 §3.8).
            .site
        case .heloRejected, .plaintextAuthRefused, .authNotOffered, .noSupportedAuthMechanism, .authenticationFailed,
             .sourceAddressUnavailable:
            .sender
        case .invalidAddress, .noRecipients:
            .message
        case .protocolViolation, .connectionClosedAfterData, .unexpectedReply, .malformedReply,
             .replyTimeout, .connectionClosed:
            // Drop the connection: content in doubt is `unknown` (`contentMayHaveReachedServer`),
            // the rest goes again.
            .connection
        default:
            .connection
        }
    }
}
