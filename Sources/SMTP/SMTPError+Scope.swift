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

    /// Where this failure belongs. A route to a relay may raise a `.site` TLS failure to
    /// `.sender`: the relay is the sender's own choice, so its certificate is too.
    public var scope: Scope {
        switch code {
        case .connectFailed, .connectTimeout, .greetingRejected, .tlsHandshakeFailed,
             .tlsRequiredButNotOffered, .startTLSRefused:
            .site
        case .serviceNotAvailable:
            // 421 at the greeting or in answer to EHLO: the site is closing its doors.
            // Later in a session it still says the site is busy (RFC 5321 §3.8).
            .site
        case .heloRejected, .plaintextAuthRefused, .authNotOffered, .noSupportedAuthMechanism, .authenticationFailed:
            .sender
        case .invalidAddress, .noRecipients:
            .message
        default:
            .connection
        }
    }
}
