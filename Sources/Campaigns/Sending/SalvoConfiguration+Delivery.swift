import Delivery
import Foundation
import SMTP

/// The delivery engine's parts, built from `salvo.yml`.
extension SalvoConfiguration {
    /// The EHLO name: `helo`, else this host's fully-qualified name (`HostName`).
    public var heloName: String { helo ?? Self.localHostName }

    /// Looked up once per process: the resolver is asked for the canonical name.
    private static let localHostName = HostName.fullyQualified()

    /// A warning for `send` and `run` when the EHLO name is not fully qualified, nil when
    /// it is: receivers that require one refuse every session, a failure of the sender's.
    public var heloWarning: String? {
        let name = heloName
        guard !HostName.isFullyQualified(name) else { return nil }
        let origin = helo == nil ? "this host's name" : "helo"
        return "the EHLO name '\(name)' (\(origin)) is not a fully-qualified domain name; "
            + "servers that require one refuse it (504 5.5.2): set helo: in the configuration"
    }

    public func retryPolicy() -> RetryPolicy {
        RetryPolicy(intervals: retry.intervals, maxAge: retry.maxAge)
    }

    /// Rates, connection limits, provider presets, back-off and the shipped deferral rules.
    public func deliveryPolicy() throws -> DeliveryPolicy<ContinuousClock.Instant> {
        func map(_ limits: Limits) -> DeliveryLimits {
            DeliveryLimits(connections: limits.connections, rate: limits.rate,
                           messagesPerConnection: limits.messagesPerConnection,
                           recipientsPerTransaction: limits.recipientsPerTransaction, requireTLS: limits.requireTLS,
                           sourceAddresses: limits.sourceAddresses)
        }
        let siteLimits: SiteLimits
        do {
            siteLimits = try SiteLimits(global: map(limits.global), default: map(limits.default),
                                        domains: limits.domains.mapValues(map), sites: limits.sites.mapValues(map))
        } catch {
            throw ConfigurationError(file: file ?? "salvo.yml", line: nil, key: "limits.sites", message: "\(error)")
        }
        return DeliveryPolicy(limits: siteLimits)
    }

    /// Where each domain's mail goes: routes (with their own TLS settings, when they have
    /// any), the relay, or MX through the resolver (`dns.server` when set).
    public func router(mxPort: Int = 25) -> Router {
        let resolver = DNSResolver(server: dns.server.map { ($0.host, $0.port) })
        var routes: [String: Router.Endpoint] = [:]
        for (domain, endpoint) in delivery.routes {
            routes[domain] = Router.Endpoint(host: endpoint.host, port: endpoint.port,
                                             tls: delivery.routeTLS[domain] == nil ? nil : routeTLS(domain: domain))
        }
        let relay = delivery.mode == .relay ? delivery.relay.map { Router.Endpoint(host: $0.host, port: $0.port) } : nil
        return Router(routes: routes, relay: relay, resolver: resolver, port: mxPort)
    }

    /// SMTP session settings towards MX hosts and routes: `delivery.tls` and `delivery.ca_file`.
    public func mxSession() -> SMTPConfiguration {
        session(Self.sessionTLS(level: delivery.tls, caFile: delivery.caFile))
    }

    /// SMTP session settings towards the route for `domain` (a key of `delivery.routes`,
    /// `*` included): its own `tls` and `ca_file` over `delivery.tls` and `delivery.ca_file`.
    public func routeSession(domain: String) -> SMTPConfiguration {
        session(routeTLS(domain: domain))
    }

    /// The TLS of sessions over the route for `domain`: its own `tls` and `ca_file` over
    /// `delivery.tls` and `delivery.ca_file`.
    func routeTLS(domain: String) -> SessionTLS {
        let route = delivery.routeTLS[domain.lowercased()]
        return Self.sessionTLS(level: route?.tls ?? delivery.tls, caFile: route?.caFile ?? delivery.caFile)
    }

    /// `none` and `opportunistic` as they say; `required` encrypts or fails but accepts any
    /// certificate (recorded in `SMTPTLSInfo`, as RFC 7435 has it for MX hosts); `verify`
    /// encrypts or fails and fails the handshake unless the certificate verifies (against
    /// `caFile`, else the system store: the only level that reads it).
    static func sessionTLS(level: String, caFile: String?) -> SessionTLS {
        switch level {
        case "verify": SessionTLS(policy: .required, certificateVerification: .verify, caFile: caFile)
        case "required": SessionTLS(policy: .required, certificateVerification: .recordOnly)
        case "none": SessionTLS(policy: .none, certificateVerification: .recordOnly)
        default: SessionTLS(policy: .opportunistic, certificateVerification: .recordOnly)
        }
    }

    private func session(_ tls: SessionTLS) -> SMTPConfiguration {
        var configuration = SMTPConfiguration.mx(heloName: heloName, tls: tls.policy)
        configuration.certificateVerification = tls.certificateVerification
        configuration.caFile = tls.caFile
        configuration.timeouts = smtp.timeouts
        configuration.sourceAddress = delivery.sourceAddress
        return configuration
    }

    /// SMTP session settings towards the relay, with its password read from the
    /// environment variable the configuration names.
    public func relaySession(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SMTPConfiguration? {
        guard delivery.mode == .relay, let relay = delivery.relay else { return nil }
        var credentials: SMTPCredentials?
        if let username = relay.username {
            guard let variable = relay.passwordEnv, let password = environment[variable], !password.isEmpty else {
                throw ConfigurationError(file: file ?? "salvo.yml", line: nil, key: "delivery.relay.password_env",
                                         message: "the relay needs a password: set \(relay.passwordEnv ?? "delivery.relay.password_env")")
            }
            credentials = SMTPCredentials(username: username, password: password)
        }
        let tls: SMTPConfiguration.TLSPolicy = SMTPConfiguration.TLSPolicy(configValue: relay.tls) ?? .required
        var configuration = SMTPConfiguration.relay(heloName: heloName, tls: tls, credentials: credentials, caFile: relay.caFile)
        configuration.allowPlaintextAuth = relay.allowPlaintextAuth
        configuration.timeouts = smtp.timeouts
        configuration.sourceAddress = delivery.sourceAddress
        return configuration
    }
}
