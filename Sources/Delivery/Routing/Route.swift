import SMTP

/// How sessions to one destination use TLS, when its route says so itself (the mapping
/// form of `delivery.routes`): these replace the MX settings' TLS policy, certificate
/// check and trusted CAs for every session over that route.
public struct SessionTLS: Hashable, Sendable {
    public var policy: SMTPConfiguration.TLSPolicy
    public var certificateVerification: SMTPConfiguration.CertificateVerification
    /// The CA certificates trusted instead of the system store (for `.verify`).
    public var caFile: String?

    public init(policy: SMTPConfiguration.TLSPolicy, certificateVerification: SMTPConfiguration.CertificateVerification,
                caFile: String? = nil) {
        self.policy = policy
        self.certificateVerification = certificateVerification
        self.caFile = caFile
    }
}

/// One host to try for a domain's mail, with its addresses.
public struct Destination: Hashable, Sendable, CustomStringConvertible {
    /// The host name (for TLS names and reports), or the address when routed to one.
    public var host: String
    public var port: Int
    /// Where to connect, in order (IPv4 before IPv6).
    public var addresses: [String]
    /// The MX preference (0 for routes and relays).
    public var preference: Int
    /// A route's own TLS settings; nil: the connector's settings for the route's kind apply.
    public var tls: SessionTLS?

    public init(host: String, port: Int, addresses: [String], preference: Int = 0, tls: SessionTLS? = nil) {
        self.host = host
        self.port = port
        self.addresses = addresses
        self.preference = preference
        self.tls = tls
    }

    public var description: String { "\(host):\(port)" }
}

/// Where one recipient domain's mail goes, or why it goes nowhere.
public enum Route: Hashable, Sendable {
    /// Try `destinations` in order (MX preference; a backup only when the ones before it
    /// refuse or are unreachable). `site` names the destination for pooling and limits:
    /// domains whose mail goes to the same hosts share it.
    case deliver(site: String, destinations: [Destination], via: Via)
    /// Permanent: no such domain, or a null MX. The recipient bounces.
    case bounce(reason: String)
    /// Temporary: DNS failed for now. The recipient is deferred.
    case deferral(reason: String)

    /// How the destinations were chosen.
    public enum Via: String, Hashable, Sendable {
        /// `delivery.routes`, like a transport map.
        case route
        /// `delivery.mode: relay`.
        case relay
        /// The domain's MX records (or its address records, the implicit MX).
        case mx
    }
}
