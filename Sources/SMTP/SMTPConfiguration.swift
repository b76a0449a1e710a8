import NIOCore

/// How an `SMTPConnection` talks to one server: its name for itself, TLS, credentials
/// and time limits.
public struct SMTPConfiguration: Sendable {
    /// When and how to use TLS.
    public enum TLSPolicy: String, Sendable, Hashable, CaseIterable {
        /// Never use TLS, even when STARTTLS is offered.
        case none
        /// STARTTLS when the server offers it, clear text otherwise (direct-to-MX delivery).
        case opportunistic
        /// STARTTLS or fail: a server that does not offer it, or refuses it, ends the session.
        case required
        /// TLS from the first byte (port 465, RFC 8314).
        case implicit

        /// Reads the `tls:` value of salvo.yml: `none`, `opportunistic`, `required`,
        /// `implicit`, and `starttls` (a relay's name for `required`).
        public init?(configValue: String) {
            switch configValue.lowercased() {
            case "starttls": self = .required
            default: self.init(rawValue: configValue.lowercased())
            }
        }
    }

    /// What to do with a certificate that does not verify.
    public enum CertificateVerification: String, Sendable, Hashable {
        /// Fail the handshake unless the chain verifies against the trust roots and the
        /// certificate names the server. The default for a relay.
        case verify
        /// Encrypt anyway and record the verification result in `SMTPTLSInfo`: what
        /// opportunistic TLS to an MX does (RFC 7435), and what `salvo check-smtp` reports.
        case recordOnly
    }

    /// The EHLO / HELO name.
    public var heloName: String
    public var tls: TLSPolicy
    public var certificateVerification: CertificateVerification
    /// A PEM file of CA certificates to trust instead of the system store.
    public var caFile: String?
    /// The name expected in the server's certificate and sent as SNI; defaults to the
    /// host connected to (when it is not an IP address).
    public var tlsServerName: String?
    public var credentials: SMTPCredentials?
    /// Allow AUTH on a connection without TLS. Off by default: credentials in clear text
    /// are readable by anyone on the path.
    public var allowPlaintextAuth: Bool
    public var timeouts: SMTPTimeouts
    /// The local IP address connections are made from (`delivery.source_address`): a
    /// sending address with its own reputation at the providers. Nil lets the system
    /// choose.
    public var sourceAddress: String?

    public init(
        heloName: String,
        tls: TLSPolicy = .required,
        certificateVerification: CertificateVerification = .verify,
        caFile: String? = nil,
        tlsServerName: String? = nil,
        credentials: SMTPCredentials? = nil,
        allowPlaintextAuth: Bool = false,
        timeouts: SMTPTimeouts = SMTPTimeouts(),
        sourceAddress: String? = nil
    ) {
        self.heloName = heloName
        self.tls = tls
        self.certificateVerification = certificateVerification
        self.caFile = caFile
        self.tlsServerName = tlsServerName
        self.credentials = credentials
        self.allowPlaintextAuth = allowPlaintextAuth
        self.timeouts = timeouts
        self.sourceAddress = sourceAddress
    }

    /// A submission relay: STARTTLS (or implicit TLS) required, certificate verified.
    public static func relay(heloName: String, tls: TLSPolicy = .required, credentials: SMTPCredentials? = nil, caFile: String? = nil) -> SMTPConfiguration {
        SMTPConfiguration(heloName: heloName, tls: tls, certificateVerification: .verify, caFile: caFile, credentials: credentials)
    }

    /// Direct delivery to a domain's MX: opportunistic TLS, unverified certificates
    /// accepted and recorded.
    public static func mx(heloName: String, tls: TLSPolicy = .opportunistic) -> SMTPConfiguration {
        SMTPConfiguration(heloName: heloName, tls: tls, certificateVerification: .recordOnly)
    }
}

/// A user name and password for AUTH PLAIN or LOGIN. Never printed.
public struct SMTPCredentials: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String { "SMTPCredentials(username: \(username), password: ****)" }
}

/// How long to wait for each reply. The defaults are RFC 5321 §4.5.3.2's minimums. Each
/// is a deadline for the whole reply, multi-line replies included, counted from the
/// moment the wait begins: a server that trickles its answer a byte at a time is cut off
/// at the deadline all the same.
public struct SMTPTimeouts: Sendable, Hashable {
    /// The TCP connect.
    public var connect: TimeAmount = .seconds(30)
    /// The 220 greeting.
    public var greeting: TimeAmount = .minutes(5)
    /// The reply to EHLO, and to HELO after a refused EHLO.
    public var ehlo: TimeAmount = .minutes(5)
    /// STARTTLS, each AUTH step, RSET, QUIT.
    public var command: TimeAmount = .minutes(5)
    public var tlsHandshake: TimeAmount = .seconds(60)
    public var mail: TimeAmount = .minutes(5)
    public var rcpt: TimeAmount = .minutes(5)
    /// The 354 after DATA.
    public var data: TimeAmount = .minutes(2)
    /// Writing the message bytes.
    public var dataBlock: TimeAmount = .minutes(3)
    /// The reply after the final ".".
    public var endOfData: TimeAmount = .minutes(10)

    public init() {}

    /// Every limit set to the same value: for tests and for impatient probes.
    public static func uniform(_ limit: TimeAmount) -> SMTPTimeouts {
        var timeouts = SMTPTimeouts()
        timeouts.connect = limit
        timeouts.greeting = limit
        timeouts.ehlo = limit
        timeouts.command = limit
        timeouts.tlsHandshake = limit
        timeouts.mail = limit
        timeouts.rcpt = limit
        timeouts.data = limit
        timeouts.dataBlock = limit
        timeouts.endOfData = limit
        return timeouts
    }

    /// The names of the limits as `salvo.yml` writes them (`smtp.timeouts.end_of_data`).
    public static let names = ["connect", "greeting", "ehlo", "command", "tls_handshake", "mail", "rcpt", "data",
                               "data_block", "end_of_data"]

    private static func path(_ name: String) -> WritableKeyPath<SMTPTimeouts, TimeAmount>? {
        switch name {
        case "connect": \.connect
        case "greeting": \.greeting
        case "ehlo": \.ehlo
        case "command": \.command
        case "tls_handshake": \.tlsHandshake
        case "mail": \.mail
        case "rcpt": \.rcpt
        case "data": \.data
        case "data_block": \.dataBlock
        case "end_of_data": \.endOfData
        default: nil
        }
    }

    /// Sets the limit `name` (one of `names`); other names change nothing.
    public mutating func set(_ name: String, to limit: Duration) {
        guard let path = Self.path(name) else { return }
        let (seconds, attoseconds) = limit.components
        self[keyPath: path] = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The limit `name` (one of `names`).
    public func limit(named name: String) -> Duration? {
        Self.path(name).map { .nanoseconds(self[keyPath: $0].nanoseconds) }
    }

    /// The limit for one awaited reply.
    public func limit(for wait: SMTPSessionStateMachine.Wait) -> TimeAmount {
        switch wait {
        case .greeting: greeting
        case .ehlo: ehlo
        case .command: command
        case .tlsHandshake: tlsHandshake
        case .mail: mail
        case .rcpt: rcpt
        case .data: data
        case .dataBlock: dataBlock
        case .endOfData: endOfData
        }
    }
}
