import Foundation

/// Where one recipient of one campaign stands. The store keeps it; the engine moves it.
///
/// `pending → claimed → sending → sent | deferred | bounced | failed | unknown`, plus
/// `suppressed`, `invalid` and `cancelled`, decided before anything is sent.
/// A crash leaves `claimed` rows that were never handed to a connection (safe to send
/// again) and `sending` rows whose transaction was on the wire (in doubt: `unknown`).
public enum DeliveryState: String, Sendable, CaseIterable, Codable {
    case pending
    /// Taken by a sender, queued in memory, not yet on a connection.
    case claimed
    /// Its transaction is on the wire.
    case sending
    case sent
    /// A temporary failure; `next_attempt_at` says when it goes again.
    case deferred
    /// A permanent failure (5xx, no such domain, null MX).
    case bounced
    /// Given up after the retry policy's maximum age.
    case failed
    /// The process died after the message was sent and before its reply was recorded.
    case unknown
    case suppressed
    case invalid
    case cancelled

    /// States that never change again without a user's say-so.
    public var isFinal: Bool {
        switch self {
        case .sent, .bounced, .failed, .unknown, .suppressed, .invalid, .cancelled: true
        case .pending, .claimed, .sending, .deferred: false
        }
    }
}

/// What happened to one recipient in one attempt, as the store records it.
public struct DeliveryOutcome: Sendable, Equatable {
    public var deliveryID: Int64
    /// `.sent`, `.deferred`, `.bounced`, `.failed` or `.unknown`.
    public var state: DeliveryState
    /// The SMTP reply code that decided it (nil for DNS or connection failures).
    public var code: Int?
    /// The RFC 3463 enhanced status code, such as "5.1.1".
    public var enhancedCode: String?
    /// The reply text, or what went wrong ("connection refused", "NXDOMAIN").
    public var response: String
    /// The host that answered (or was tried).
    public var mxHost: String?
    public var messageID: String?
    public var attemptedAt: Date
    /// For `.deferred`: when to try again.
    public var nextAttemptAt: Date?
    /// The TLS version of the session the reply came on ("TLSv1.3"); nil when the session
    /// was in clear text, or when no session was opened.
    public var tlsVersion: String?
    /// Whether that session's server certificate verified (against the system store or a
    /// `ca_file`); nil without TLS. False under `tls: required` or opportunistic TLS, which
    /// encrypt without trusting the certificate.
    public var certificateVerified: Bool?
    /// The local address that session was made from (the egress IP the server saw); nil
    /// when no session was opened.
    public var sourceAddress: String?

    public init(deliveryID: Int64, state: DeliveryState, code: Int? = nil, enhancedCode: String? = nil,
                response: String, mxHost: String? = nil, messageID: String? = nil,
                attemptedAt: Date, nextAttemptAt: Date? = nil, tlsVersion: String? = nil, certificateVerified: Bool? = nil,
                sourceAddress: String? = nil) {
        self.deliveryID = deliveryID
        self.state = state
        self.code = code
        self.enhancedCode = enhancedCode
        self.response = response
        self.mxHost = mxHost
        self.messageID = messageID
        self.attemptedAt = attemptedAt
        self.nextAttemptAt = nextAttemptAt
        self.tlsVersion = tlsVersion
        self.certificateVerified = certificateVerified
        self.sourceAddress = sourceAddress
    }
}
