import SMTP

/// Opens the SMTP sessions of everything Salvo sends, campaigns and notices alike, so both
/// reach a destination the same way: towards MX hosts and routes with the MX settings
/// (a route with TLS settings of its own, `Destination.tls`, with those instead),
/// towards the relay with the relay's, and to a site whose limits require TLS (a
/// provider's preset, or `tls: required` in `limits`) with no clear-text fallback.
///
/// `delivery.tls: none` (for tests against local servers) still turns TLS off
/// everywhere a route does not say otherwise: a requirement only upgrades `opportunistic`.
public struct DeliveryConnector: Sendable {
    /// The session settings towards MX hosts and routes.
    public var mx: SMTPConfiguration
    /// The session settings towards the relay, when one is used.
    public var relay: SMTPConfiguration?
    /// Replaces every session's timeouts when set (a notice is small: it need not wait
    /// RFC 5321's ten minutes for its final reply).
    public var timeouts: SMTPTimeouts?

    public init(mx: SMTPConfiguration, relay: SMTPConfiguration? = nil, timeouts: SMTPTimeouts? = nil) {
        self.mx = mx
        self.relay = relay
        self.timeouts = timeouts
    }

    /// The settings of one session to `destination` at `address`.
    public func configuration(via: Route.Via, requireTLS: Bool, destination: Destination, address: String) -> SMTPConfiguration {
        var configuration = via == .relay ? (relay ?? mx) : mx
        if via == .route, let own = destination.tls {
            configuration.tls = own.policy
            configuration.certificateVerification = own.certificateVerification
            configuration.caFile = own.caFile
        }
        if requireTLS, configuration.tls == .opportunistic { configuration.tls = .required }
        // A destination reached by address keeps its host name for the certificate check.
        if configuration.tlsServerName == nil, address != destination.host { configuration.tlsServerName = destination.host }
        if let timeouts { configuration.timeouts = timeouts }
        return configuration
    }

    /// Opens sessions for a route of kind `via`; `requireTLS` when the site's limits say so;
    /// from `sourceAddress` when given (a pool's lane), else from `delivery.source_address`
    /// or the address the system picks.
    public func connector(via: Route.Via, requireTLS: Bool, sourceAddress: String? = nil) -> SMTPConnector {
        let connector = self
        return { destination, address in
            var configuration = connector.configuration(via: via, requireTLS: requireTLS,
                                                        destination: destination, address: address)
            if let sourceAddress { configuration.sourceAddress = sourceAddress }
            return try await SMTPConnection.connect(host: address, port: destination.port, hostName: destination.host,
                                                    configuration: configuration)
        }
    }

    /// The site a route delivers to, as limits, back-off and shared keys name it: the
    /// router's site (an MX host pattern, a route), or the first destination's host.
    public static func site(of routerSite: String, destinations: [Destination]) -> SiteKey {
        let port = destinations.first?.port ?? 25
        return SiteKey(routerSite: routerSite, mxPort: port) ?? SiteKey(host: destinations.first?.host ?? routerSite, port: port)
    }

    /// Whether `error`, met on a route of kind `via`, is the sender's own failure rather
    /// than the destination's: `SMTPError.scope` says `.sender`, or the route is the relay
    /// (the sender's own choice) and its TLS failed, its certificate untrusted included.
    public static func isSenderFailure(_ error: SMTPError, via: Route.Via) -> Bool {
        error.scope(towardsRelay: via == .relay) == .sender
    }
}
