/// The `limits` configuration, and the limits that apply to one recipient domain at one
/// site.
///
/// Resolution, least to most specific, each layer replacing only the settings it names:
/// 1. the built-in fallbacks (5 connections, 100 messages per connection, 50 recipients
///    per transaction — DESIGN.md), then `default`;
/// 2. every `sites` pattern (and provider preset) that matches one of the site's MX
///    hosts, in order of specificity: `*` < `*.protection.outlook.com` <
///    `*.olc.protection.outlook.com` < an exact host. At equal specificity a user's
///    `sites` entry comes after (wins over) the shipped preset of the same pattern;
/// 3. the recipient domain's exact `domains` entry.
///
/// So a user who writes `"*.google.com": { connections: 10 }` keeps the preset's
/// messages per connection and TLS requirement, and changes only the connections.
///
/// A `domains` entry's `rate` is a bucket of that domain's own, inside its site (the
/// site keeps its own rate too): `yahoo.com: { rate: 100/hour }` slows yahoo.com and not
/// ymail.com, though both share Yahoo's MX. A `domains` entry that sets pool settings
/// (connections, messages per connection, recipients per transaction, TLS, source
/// addresses) cannot share a pool with domains that do not, so that domain is split into a site of its own
/// (`SiteKey.split(for:)`), like KumoMTA's `mx_rollup = false`.
public struct SiteLimits: Sendable {
    /// The whole process: `connections` and `rate` are read; the rest is ignored.
    public var global: DeliveryLimits
    public var `default`: DeliveryLimits
    /// Exact recipient domains, lower-cased.
    public private(set) var domains: [String: DeliveryLimits]
    /// The user's `sites` entries.
    public private(set) var sites: [SitePattern: DeliveryLimits]
    /// The shipped provider presets, beneath `sites`.
    public private(set) var presets: [SitePattern: DeliveryLimits]

    /// Used where `default` names nothing (DESIGN.md's defaults).
    public static let fallback = DeliveryLimits(connections: 5, messagesPerConnection: 100,
                                                recipientsPerTransaction: 50, requireTLS: false)
    public static let globalFallback = DeliveryLimits(connections: 200)

    /// - Throws: `SiteLimitsError` naming the first `sites` key that is not a host name
    ///   or `*.domain` pattern.
    public init(global: DeliveryLimits = SiteLimits.globalFallback,
                default: DeliveryLimits = SiteLimits.fallback,
                domains: [String: DeliveryLimits] = [:],
                sites: [String: DeliveryLimits] = [:],
                presets: [String: DeliveryLimits] = ProviderPresets.sitePatterns) throws(SiteLimitsError) {
        self.global = SiteLimits.globalFallback.overlaid(by: global)
        self.default = SiteLimits.fallback.overlaid(by: `default`)
        self.domains = Dictionary(domains.map { (SiteKey.normalize($0.key), $0.value) }, uniquingKeysWith: { $0.overlaid(by: $1) })
        self.sites = try Self.patterns(sites, key: "limits.sites")
        self.presets = try Self.patterns(presets, key: "provider presets")
    }

    private static func patterns(_ entries: [String: DeliveryLimits], key: String) throws(SiteLimitsError) -> [SitePattern: DeliveryLimits] {
        var result: [SitePattern: DeliveryLimits] = [:]
        for (text, limits) in entries.sorted(by: { $0.key < $1.key }) {
            guard let pattern = SitePattern(text) else { throw SiteLimitsError(key: key, pattern: text) }
            result[pattern] = (result[pattern] ?? DeliveryLimits()).overlaid(by: limits)
        }
        return result
    }

    /// The limits in force for one recipient domain at one site.
    public struct Effective: Sendable, Hashable {
        /// The pool to use: `site`, or a split of it when the domain has pool settings.
        public var site: SiteKey
        public var connections: Int
        public var messagesPerConnection: Int
        public var recipientsPerTransaction: Int
        public var requireTLS: Bool
        /// The pool's source addresses, each a lane with `connections` of its own; empty
        /// for one lane from `delivery.source_address` or the system's choice.
        public var sourceAddresses: [String]
        /// The site's bucket (from `default` and `sites`), nil for no limit.
        public var siteRate: Rate?
        /// The domain's own bucket (its `domains` entry), nil for none.
        public var domainRate: Rate?
        /// Which entries applied, least specific first (`default`, `preset *.google.com`,
        /// `sites *.google.com`, `domains gmail.com`): for `salvo` to explain a limit.
        public var sources: [String]
    }

    /// The settings of a site before any domain's entry: `default` and the matching
    /// `sites` patterns and presets, layered. Depends on the site alone, so a caller
    /// that resolves many recipients may keep it per site (`DeliveryPolicy` does)
    /// rather than match every pattern for every message.
    public struct SiteSettings: Sendable, Hashable {
        public var limits: DeliveryLimits
        public var sources: [String]
    }

    public func settings(for site: SiteKey) -> SiteSettings {
        var limits = self.default
        var sources = ["default"]
        var layers: [(specificity: Int, order: Int, pattern: SitePattern, limits: DeliveryLimits, label: String)] = []
        for (pattern, entry) in presets where pattern.matches(site) {
            layers.append((pattern.specificity, 0, pattern, entry, "preset \(pattern)"))
        }
        for (pattern, entry) in sites where pattern.matches(site) {
            layers.append((pattern.specificity, 1, pattern, entry, "sites \(pattern)"))
        }
        layers.sort { ($0.specificity, $0.order, $0.pattern.text) < ($1.specificity, $1.order, $1.pattern.text) }
        for layer in layers {
            limits = limits.overlaid(by: layer.limits)
            sources.append(layer.label)
        }
        return SiteSettings(limits: limits, sources: sources)
    }

    /// The limits for a recipient of `domain` at `site`; pass `settings` when you kept
    /// the site's from `settings(for:)`.
    public func resolve(domain: String, site: SiteKey, settings: SiteSettings? = nil) -> Effective {
        let domain = SiteKey.normalize(domain)
        let layered = settings ?? self.settings(for: site)
        var limits = layered.limits
        var sources = layered.sources
        let siteRate = limits.rate

        var key = site
        var domainRate: Rate?
        if let entry = domains[domain] {
            sources.append("domains \(domain)")
            domainRate = entry.rate
            if entry.setsPoolSettings {
                key = site.split(for: domain)
                limits = limits.overlaid(by: DeliveryLimits(connections: entry.connections,
                                                            messagesPerConnection: entry.messagesPerConnection,
                                                            recipientsPerTransaction: entry.recipientsPerTransaction,
                                                            requireTLS: entry.requireTLS,
                                                            sourceAddresses: entry.sourceAddresses))
            }
        }
        return Effective(site: key,
                         connections: limits.connections ?? Self.fallback.connections!,
                         messagesPerConnection: limits.messagesPerConnection ?? Self.fallback.messagesPerConnection!,
                         recipientsPerTransaction: limits.recipientsPerTransaction ?? Self.fallback.recipientsPerTransaction!,
                         requireTLS: limits.requireTLS ?? false,
                         sourceAddresses: limits.sourceAddresses ?? [],
                         siteRate: siteRate,
                         domainRate: domainRate,
                         sources: sources)
    }
}

/// A `limits.sites` key that is not a host name or a `*.domain` pattern.
public struct SiteLimitsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public var pattern: String

    public var description: String {
        "\(key): '\(pattern)' is not an MX host name or a pattern such as *.google.com (a '*' may only stand for the leading labels)"
    }
}
