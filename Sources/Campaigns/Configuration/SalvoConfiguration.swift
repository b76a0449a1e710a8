import Delivery
import Foundation
import SMTP

/// Everything `salvo.yml` says. Every section is optional; the defaults are those of a
/// careful sender (opportunistic TLS to MX hosts, retries every 15 minutes for 4 hours).
public struct SalvoConfiguration: Sendable {
    /// The file this came from, or nil when no file was found and defaults apply.
    public var file: String?
    /// An SQLite file (resolved against the configuration's folder), or a PostgreSQL URL,
    /// `postgres://USER@HOST[:PORT]/DB`, kept as written.
    public var database = "salvo.db"
    /// `database_password_env`: the environment variable holding a PostgreSQL database's
    /// password (nil: `SALVO_DB_PASSWORD`). A password never goes in the file itself.
    public var databasePasswordEnv: String?
    /// The EHLO name; nil means the host name.
    public var helo: String?
    public var delivery = DeliverySettings()
    public var dns = DNSSettings()
    /// The first (or only) DKIM key: what a single `dkim:` mapping configures.
    public var dkim: DKIMSettings? {
        get { dkimKeys.first }
        set { dkimKeys = newValue.map { [$0] } ?? [] }
    }
    /// Every DKIM key: `dkim:` as a list signs each message once per key (an RSA and an
    /// Ed25519 key, as RFC 8463 advises while verifiers without Ed25519 remain).
    public var dkimKeys: [DKIMSettings] = []
    public var limits = LimitSettings()
    public var retry = RetrySettings()
    public var unsubscribe = UnsubscribeSettings()
    /// `reputation_guard`: nil when disabled.
    public var reputationGuard: ReputationGuard? = ReputationGuard()
    /// `quota.per_day`: nil for no daily quota.
    public var quota: DailyQuota?
    /// `verp`: nil when messages go out with the campaign's From address as envelope sender.
    public var verp: VERPSettings?
    /// `smtp`: how the SMTP client behaves towards every server (MX hosts, routes, relay).
    public var smtp = SMTPSettings()
    /// `web`: what `salvo serve` listens on and the address the links in messages start with.
    public var web = WebSettings()
    /// `doctor`: what `salvo doctor` checks (SalvoConfiguration+Doctor.swift).
    public var doctor = DoctorSettings()

    public init() {}

    public struct SMTPSettings: Sendable {
        /// `smtp.timeouts`: RFC 5321 §4.5.3.2's values unless set.
        public var timeouts = SMTPTimeouts()
    }

    public struct DeliverySettings: Sendable {
        public enum Mode: String, Sendable { case mx, relay }
        public var mode: Mode = .mx
        public var relay: RelaySettings?
        /// Domain (or "*") to host:port, like Postfix's transport map.
        public var routes: [String: Endpoint] = [:]
        /// What the mapping form of a route (`domain: { to: host:port, tls: …, ca_file: … }`)
        /// says about TLS, by the same domain keys as `routes`.
        public var routeTLS: [String: RouteTLS] = [:]
        /// TLS towards MX hosts and routes: opportunistic | required | verify | none.
        /// `required` encrypts and records the certificate without trusting it; `verify`
        /// also checks it (against `caFile`, else the system store).
        public var tls = "opportunistic"
        /// `delivery.ca_file`: the CA certificates `verify` trusts instead of the system store.
        public var caFile: String?
        /// `delivery.suspend_after_failed_connections`: connections a site may fail in a
        /// row before the pass defers its recipients without trying each; nil keeps the
        /// engine's default (`DeliveryEngine.Settings.suspendAfterFailedConnections`).
        public var suspendAfterFailedConnections: Int?
        /// `delivery.source_address`: the local IP address every SMTP connection is made
        /// from (to MX hosts, routes and the relay), so a host sends from the address its
        /// reputation is on; nil lets the system choose.
        public var sourceAddress: String?
    }

    /// A route's own TLS settings, over `delivery.tls` and `delivery.ca_file`.
    public struct RouteTLS: Sendable, Equatable {
        public var tls: String?
        public var caFile: String?
    }

    public struct RelaySettings: Sendable {
        public var host: String
        public var port = 587
        /// starttls | implicit | none.
        public var tls = "starttls"
        public var username: String?
        /// The environment variable that holds the password (never the password itself).
        public var passwordEnv: String?
        public var caFile: String?
        public var allowPlaintextAuth = false
    }

    public struct DNSSettings: Sendable {
        public var server: Endpoint?
    }

    public struct DKIMSettings: Sendable {
        public var domain: String
        public var selector: String
        /// Path of the PEM private key, resolved against the configuration's folder.
        public var key: String
    }

    public struct Limits: Sendable, Equatable {
        public var connections: Int?
        public var rate: Rate?
        public var messagesPerConnection: Int?
        public var recipientsPerTransaction: Int?
        /// `tls: required` (true) or `opportunistic` (false) for the sites or domains the
        /// entry names; nil leaves `delivery.tls` in charge.
        public var requireTLS: Bool? = nil
        /// `source_addresses: [192.0.2.10, 192.0.2.11]`: the local addresses the pool's
        /// connections come from, each with `connections` of its own; nil leaves
        /// `delivery.source_address` (or the system) in charge.
        public var sourceAddresses: [String]? = nil
    }

    public struct LimitSettings: Sendable {
        public var global = Limits(connections: 200, rate: nil)
        public var `default` = Limits(connections: 5, rate: nil, messagesPerConnection: 100, recipientsPerTransaction: 50)
        public var domains: [String: Limits] = [:]
        /// Keyed by MX host pattern such as "*.google.com".
        public var sites: [String: Limits] = [:]
    }

    public struct RetrySettings: Sendable {
        /// The waits between attempts; the last one repeats.
        public var intervals = [ConfiguredDuration(seconds: 15 * 60)]
        /// How long a recipient is retried before it is given up as failed.
        public var maxAge = ConfiguredDuration(seconds: 4 * 3600)
    }

    /// Variable envelope return paths (`verp: true`, or a mapping): each message's MAIL
    /// FROM is `bounces+ID-TAG@bounce_domain`, so its bounce names its delivery.
    public struct VERPSettings: Sendable, Equatable {
        /// The domain bounces return to; nil means the campaign's From domain, whose MX
        /// must then deliver `bounces+…` to the mailbox `salvo bounces import` reads.
        public var bounceDomain: String?
        /// The local part before the `+`.
        public var localPart = "bounces"
        /// The environment variable holding the HMAC key of the tokens; nil means the
        /// unsubscribe secret's (`unsubscribe.secret_env`).
        public var secretEnv: String?
    }

    public struct UnsubscribeSettings: Sendable {
        public var secretEnv = "SALVO_UNSUBSCRIBE_SECRET"
        /// A file holding the secret (`salvo init` writes one, mode 0600), read when the
        /// environment variable is unset; resolved against the configuration's folder.
        public var secretFile: String?
        public var mailto: String?
    }

    /// `web:` — `salvo serve`.
    public struct WebSettings: Sendable, Equatable {
        /// Where the server listens: loopback unless told otherwise, since a reverse
        /// proxy in front of it terminates TLS.
        public var listen = Endpoint(host: "127.0.0.1", port: 8080)
        /// What the links in messages start with (`https://shop.example`): the origin
        /// the pages post their forms to. Nil: the pages post to their own path.
        public var publicURL: String?
    }

    /// `host:port`, as routes and the DNS server are written.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host`, `host:port` or `[IPv6]:port`, as `salvo check-smtp` reads its server.
        public init?(_ text: String, defaultPort: Int) {
            guard let (host, port) = SMTPProbe.parseAddress(text, defaultPort: defaultPort) else { return nil }
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }
}

extension SalvoConfiguration {
    /// Where the configuration comes from: `--config`, else `SALVO_CONFIG`, else
    /// `salvo.yml` in the working directory if there is one.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit { return explicit }
        if let fromEnvironment = environment["SALVO_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        return FileManager.default.fileExists(atPath: "salvo.yml") ? "salvo.yml" : nil
    }

    /// Whether a `database` value names a PostgreSQL server rather than an SQLite file.
    public static func isPostgresURL(_ database: String) -> Bool {
        database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")
    }

    /// Reads and checks a configuration file. Relative paths in it are resolved against
    /// its folder.
    public static func load(path: String) throws -> SalvoConfiguration {
        try SalvoConfiguration(yaml: YAMLValue.load(path: path))
    }

    public init(yaml root: YAMLValue) throws {
        self.init()
        file = root.file
        let top = try root.mapping(known: ["database", "database_password_env", "helo", "delivery", "dns", "dkim", "limits", "retry", "unsubscribe", "reputation_guard", "quota", "verp", "smtp", "web", "doctor"])
        if let value = top["database"] {
            let text = try value.nonEmptyString()
            database = Self.isPostgresURL(text) ? text : try value.path()
        }
        else { database = YAMLValue(node: "salvo.db", key: "database", file: root.file).relativeToFile("salvo.db") }
        if let value = top["database_password_env"] { databasePasswordEnv = try value.nonEmptyString() }
        if let value = top["helo"] { helo = try value.nonEmptyString() }
        if let value = top["delivery"] { delivery = try Self.delivery(value) }
        if let value = top["dns"] {
            let keys = try value.mapping(known: ["server"])
            if let server = keys["server"] { dns.server = try Self.endpoint(server, defaultPort: 53) }
        }
        if let value = top["dkim"] {
            // One mapping, or a list of them (one signature per key).
            var entries = [value]
            if case .sequence = value.node { entries = try value.array() }
            if entries.isEmpty { throw value.error("needs at least one key (domain, selector and key)") }
            dkimKeys = try entries.map { entry in
                let keys = try entry.mapping(known: ["domain", "selector", "key"])
                guard let domain = keys["domain"], let selector = keys["selector"], let key = keys["key"] else {
                    throw entry.error("needs domain, selector and key")
                }
                return DKIMSettings(domain: try domain.nonEmptyString().lowercased(), selector: try selector.nonEmptyString(), key: try key.path())
            }
        }
        if let value = top["limits"] { limits = try Self.limitSettings(value, defaults: limits) }
        if let value = top["retry"] {
            let keys = try value.mapping(known: ["intervals", "max_age"])
            if let intervals = keys["intervals"] {
                retry.intervals = try intervals.array().map { try Self.duration($0) }
                if retry.intervals.isEmpty { throw intervals.error("needs at least one interval") }
            }
            if let maxAge = keys["max_age"] { retry.maxAge = try Self.duration(maxAge) }
        }
        if let value = top["reputation_guard"] {
            let keys = try value.mapping(known: ["enabled", "bounce_rate", "minimum_attempts"])
            var settings = ReputationGuard()
            if let rate = keys["bounce_rate"] {
                let text = try rate.string().trimmingCharacters(in: .whitespaces)
                let number = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
                guard let number, number > 0, number < 1 else { throw rate.error("expected a rate such as 5% or 0.05, found '\(text)'") }
                settings.maxBounceRate = number
            }
            if let minimum = keys["minimum_attempts"] { settings.minimumAttempts = try minimum.int(min: 1) }
            reputationGuard = try keys["enabled"]?.bool() == false ? nil : settings
        }
        if let value = top["quota"] {
            let keys = try value.mapping(known: ["per_day"])
            guard let perDay = keys["per_day"] else { throw value.error("needs per_day (messages handed to servers per UTC day)") }
            quota = DailyQuota(perDay: try perDay.int(min: 1))
        }
        if let value = top["verp"] { verp = try Self.verp(value) }
        if let value = top["smtp"] { smtp = try Self.smtp(value) }
        if let value = top["web"] { web = try Self.web(value) }
        if let value = top["doctor"] { doctor = try Self.doctor(value) }
        if let value = top["unsubscribe"] {
            let keys = try value.mapping(known: ["secret_env", "secret_file", "mailto"])
            if let secret = keys["secret_env"] { unsubscribe.secretEnv = try secret.nonEmptyString() }
            if let file = keys["secret_file"] { unsubscribe.secretFile = try file.path() }
            if let mailto = keys["mailto"] { unsubscribe.mailto = try mailto.nonEmptyString() }
        }
    }

    /// `web: { listen, public_url }`.
    private static func web(_ value: YAMLValue) throws -> WebSettings {
        var settings = WebSettings()
        let keys = try value.mapping(known: ["listen", "public_url"])
        if let listen = keys["listen"] { settings.listen = try endpoint(listen, defaultPort: 8080) }
        if let url = keys["public_url"] {
            var text = try url.nonEmptyString()
            guard let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  let host = parsed.host, !host.isEmpty, parsed.query == nil, parsed.fragment == nil
            else { throw url.error("expected an http(s) URL such as https://shop.example, found '\(text)'") }
            while text.hasSuffix("/") { text.removeLast() }
            settings.publicURL = text
        }
        return settings
    }

    /// `verp: true | false`, or a mapping of `bounce_domain`, `local_part`, `secret_env`
    /// and `enabled` (true when left out).
    private static func verp(_ value: YAMLValue) throws -> VERPSettings? {
        if value.isScalar { return try value.bool() ? VERPSettings() : nil }
        let keys = try value.mapping(known: ["enabled", "bounce_domain", "local_part", "secret_env"])
        if try keys["enabled"]?.bool() == false { return nil }
        var settings = VERPSettings()
        if let domain = keys["bounce_domain"] { settings.bounceDomain = try domain.nonEmptyString().lowercased() }
        if let local = keys["local_part"] {
            let text = try local.nonEmptyString()
            guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }), !text.contains("+") else {
                throw local.error("expected letters, digits, '-', '_' or '.', found '\(text)'")
            }
            settings.localPart = text
        }
        if let secret = keys["secret_env"] { settings.secretEnv = try secret.nonEmptyString() }
        return settings
    }

    /// `smtp: { timeouts: { connect: 30s, greeting: 5m, … } }`: each a deadline for one
    /// whole reply, at least one second.
    private static func smtp(_ value: YAMLValue) throws -> SMTPSettings {
        var settings = SMTPSettings()
        let keys = try value.mapping(known: ["timeouts"])
        guard let timeouts = keys["timeouts"] else { return settings }
        let entries = try timeouts.mapping(known: SMTPTimeouts.names)
        for name in SMTPTimeouts.names {
            guard let entry = entries[name] else { continue }
            let limit = try duration(entry)
            guard limit.seconds >= 1 else { throw entry.error("a time limit must be at least 1s, found '\(limit)'") }
            settings.timeouts.set(name, to: limit.duration)
        }
        return settings
    }

    private static func delivery(_ value: YAMLValue) throws -> DeliverySettings {
        var settings = DeliverySettings()
        let keys = try value.mapping(known: ["mode", "relay", "routes", "tls", "ca_file", "suspend_after_failed_connections",
                                             "source_address"])
        if let mode = keys["mode"] { settings.mode = DeliverySettings.Mode(rawValue: try mode.oneOf(["mx", "relay"]))! }
        let levels = ["opportunistic", "required", "verify", "none"]
        if let tls = keys["tls"] { settings.tls = try tls.oneOf(levels) }
        settings.caFile = try keys["ca_file"]?.path()
        settings.suspendAfterFailedConnections = try keys["suspend_after_failed_connections"]?.int(min: 1)
        if let source = keys["source_address"] { settings.sourceAddress = try sourceAddress(source) }
        if let routes = keys["routes"] {
            // Routes to one server share its connections, so they must use them alike.
            var sessions: [String: (domain: String, tls: SessionTLS)] = [:]
            for (domain, target) in try routes.entries() {
                let domain = domain.lowercased()
                var tls = RouteTLS()
                if target.isScalar {
                    settings.routes[domain] = try endpoint(target, defaultPort: 25)
                } else {
                    let route = try target.mapping(known: ["to", "tls", "ca_file"])
                    guard let to = route["to"] else { throw target.error("needs to: host:port") }
                    settings.routes[domain] = try endpoint(to, defaultPort: 25)
                    tls = RouteTLS(tls: try route["tls"]?.oneOf(levels), caFile: try route["ca_file"]?.path())
                    if tls != RouteTLS() { settings.routeTLS[domain] = tls }
                }
                let server = settings.routes[domain]!.description.lowercased()
                let session = sessionTLS(level: tls.tls ?? settings.tls, caFile: tls.caFile ?? settings.caFile)
                if let other = sessions[server], other.tls != session {
                    throw target.error("routes to \(server) as \(other.domain) does, with other TLS settings (tls, ca_file): "
                                       + "routes to one server share its connections, so give them the same")
                }
                sessions[server] = sessions[server] ?? (domain, session)
            }
        }
        if let relay = keys["relay"] {
            let r = try relay.mapping(known: ["host", "port", "tls", "username", "password_env", "ca_file", "allow_plaintext_auth"])
            guard let host = r["host"] else { throw relay.error("needs a host") }
            var settings_ = RelaySettings(host: try host.nonEmptyString())
            if let tls = r["tls"] { settings_.tls = try tls.oneOf(["starttls", "implicit", "none"]) }
            settings_.port = try r["port"]?.int(min: 1) ?? (settings_.tls == "implicit" ? 465 : 587)
            settings_.username = try r["username"]?.nonEmptyString()
            settings_.passwordEnv = try r["password_env"]?.nonEmptyString()
            settings_.caFile = try r["ca_file"]?.path()
            settings_.allowPlaintextAuth = try r["allow_plaintext_auth"]?.bool() ?? false
            settings.relay = settings_
        }
        if settings.mode == .relay, settings.relay == nil {
            throw value.error("mode is relay but no relay is configured (delivery.relay.host)")
        }
        return settings
    }

    private static func limitSettings(_ value: YAMLValue, defaults: LimitSettings) throws -> LimitSettings {
        var settings = defaults
        let keys = try value.mapping(known: ["global", "default", "domains", "sites"])
        if let global = keys["global"] {
            if let sources = try global.mapping(known: limitKeys)["source_addresses"] {
                throw sources.error("belongs to limits.default, limits.sites or limits.domains: limits.global caps connections and the rate of the whole process")
            }
            settings.global = try limits(global, over: defaults.global)
        }
        if let fallback = keys["default"] { settings.default = try limits(fallback, over: defaults.default) }
        if let domains = keys["domains"] {
            for (domain, entry) in try domains.entries() { settings.domains[domain.lowercased()] = try limits(entry, over: Limits()) }
        }
        if let sites = keys["sites"] {
            for (pattern, entry) in try sites.entries() { settings.sites[pattern.lowercased()] = try limits(entry, over: Limits()) }
        }
        return settings
    }

    private static let limitKeys = ["connections", "rate", "messages_per_connection", "recipients_per_transaction", "tls",
                                    "source_addresses"]

    private static func limits(_ value: YAMLValue, over base: Limits) throws -> Limits {
        var limits = base
        let keys = try value.mapping(known: limitKeys)
        if let v = keys["connections"] { limits.connections = try v.int(min: 1) }
        if let v = keys["rate"] {
            let text = try v.string()
            guard let rate = Rate(text) else { throw v.error("expected a rate such as 100/hour, 20/min or 5/s, found '\(text)'") }
            limits.rate = rate
        }
        if let v = keys["messages_per_connection"] { limits.messagesPerConnection = try v.int(min: 1) }
        if let v = keys["recipients_per_transaction"] { limits.recipientsPerTransaction = try v.int(min: 1) }
        if let v = keys["tls"] { limits.requireTLS = try v.oneOf(["required", "opportunistic"]) == "required" }
        if let v = keys["source_addresses"] { limits.sourceAddresses = try sourceAddresses(v) }
        return limits
    }

    /// One of this host's IP addresses, as `source_address` and each of `source_addresses` name it.
    private static func sourceAddress(_ value: YAMLValue) throws -> String {
        let address = try value.nonEmptyString()
        guard IPAddress(address) != nil else {
            throw value.error("is not an IP address (\(address)): give one of this host's addresses, such as 192.0.2.10 or 2001:db8::10")
        }
        return address
    }

    /// A list of this host's IP addresses, each once; one address alone may stand for a
    /// list of one.
    private static func sourceAddresses(_ value: YAMLValue) throws -> [String] {
        var addresses: [String] = []
        for entry in try value.array() {
            let address = try sourceAddress(entry)
            guard !addresses.contains(address) else { throw entry.error("\(address) is listed twice") }
            addresses.append(address)
        }
        guard !addresses.isEmpty else { throw value.error("is empty: give at least one of this host's addresses") }
        return addresses
    }

    static func duration(_ value: YAMLValue) throws -> ConfiguredDuration {
        let text = try value.string()
        guard let duration = ConfiguredDuration(text) else {
            throw value.error("expected a duration such as 30s, 15m, 4h or 2d, found '\(text)'")
        }
        return duration
    }

    private static func endpoint(_ value: YAMLValue, defaultPort: Int) throws -> Endpoint {
        let text = try value.nonEmptyString()
        guard let endpoint = Endpoint(text, defaultPort: defaultPort) else {
            throw value.error("expected host or host:port, found '\(text)'")
        }
        return endpoint
    }
}

extension YAMLValue {
    /// `name` resolved against this file's folder.
    func relativeToFile(_ name: String) -> String {
        let folder = (file as NSString).deletingLastPathComponent
        return folder.isEmpty ? name : (folder as NSString).appendingPathComponent(name)
    }
}
