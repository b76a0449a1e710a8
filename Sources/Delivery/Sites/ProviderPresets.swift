/// Shipped limits for the large mailbox providers, keyed by their MX host names, so a
/// first campaign is polite to them without any configuration. They sit beneath the
/// user's `limits.sites` (see `SiteLimits`): a user entry for the same pattern changes
/// only the settings it names.
///
/// Sources: most numbers are KumoMTA's published shaping defaults
/// (`assets/policy-extras/shaping.toml` in github.com/KumoCorp/kumomta, "provided by
/// Yahoo! directly" for Yahoo, and `assets/community/shaping.toml` for contributed
/// entries), which in turn cite the providers' postmaster pages named below. KumoMTA
/// applies its `provider_connection_limit` across all of a provider's MX sets; Salvo
/// applies `connections` per site (per MX set), which is the same thing for consumer
/// mailboxes (one MX set) and more permissive for providers whose customer domains use
/// several MX sets. None of these providers publishes a message rate for senders in
/// good standing, so no preset sets `rate`: the adaptive back-off and the deferral
/// rules (`DeferralRule.defaults`) slow a site down when it says so.
public enum ProviderPresets {
    public struct Preset: Sendable, Hashable {
        public var provider: String
        /// MX host patterns (`SitePattern`).
        public var patterns: [String]
        public var limits: DeliveryLimits
        /// Where the numbers come from.
        public var source: String
    }

    public static let all: [Preset] = [
        // Gmail and Google Workspace share MX infrastructure (KumoMTA rolls them into one
        // provider). 5 connections and 50 messages per connection: KumoMTA shaping.toml
        // [provider."google"]. TLS: Google's sender guidelines list "Use a TLS connection
        // for transmitting email" among the requirements for all senders
        // (https://support.google.com/a/answer/81126).
        Preset(provider: "Google", patterns: ["*.google.com", "*.googlemail.com"],
               limits: DeliveryLimits(connections: 5, messagesPerConnection: 50, requireTLS: true),
               source: "KumoMTA shaping.toml [provider.google]; support.google.com/a/answer/81126"),
        // 20 messages per connection: KumoMTA shaping.toml [provider."yahoo"], marked
        // "provided by Yahoo! directly" (https://senders.yahooinc.com/best-practices);
        // Yahoo answers "421 Max message per connection reached" beyond it. Connections:
        // none published; Salvo's default (5) applies.
        Preset(provider: "Yahoo", patterns: ["*.yahoodns.net"],
               limits: DeliveryLimits(messagesPerConnection: 20),
               source: "KumoMTA shaping.toml [provider.yahoo]; senders.yahooinc.com/best-practices"),
        // Microsoft 365 (*.mail.protection.outlook.com) and the DANE MX set
        // (*.mx.microsoft): 5 connections, 50 messages per connection, KumoMTA
        // shaping.toml [provider."office365"] / [provider."office365-dane"].
        Preset(provider: "Microsoft 365", patterns: ["*.protection.outlook.com", "*.mx.microsoft"],
               limits: DeliveryLimits(connections: 5, messagesPerConnection: 50),
               source: "KumoMTA shaping.toml [provider.office365]"),
        // Outlook.com / Hotmail / Live (consumer) MX: the same numbers, KumoMTA
        // shaping.toml [provider."outlook"], which cites
        // https://sendersupport.olc.protection.outlook.com/pm/Policies. A separate,
        // more specific pattern because it is a separate edge server group.
        Preset(provider: "Outlook.com", patterns: ["*.olc.protection.outlook.com"],
               limits: DeliveryLimits(connections: 5, messagesPerConnection: 50),
               source: "KumoMTA shaping.toml [provider.outlook]; sendersupport.olc.protection.outlook.com/pm/Policies"),
        // iCloud Mail (mx01.mail.icloud.com, mx02…): 10 connections, 5 messages per
        // connection, KumoMTA shaping.toml [provider."apple"], citing
        // https://support.apple.com/en-us/102322.
        Preset(provider: "Apple iCloud", patterns: ["*.mail.icloud.com"],
               limits: DeliveryLimits(connections: 10, messagesPerConnection: 5),
               source: "KumoMTA shaping.toml [provider.apple]; support.apple.com/en-us/102322"),
        // Comcast/Xfinity: 25 connections, 1000 messages per connection, TLS required,
        // KumoMTA shaping.toml ["comcast.net"], "provided directly by Comcast"
        // (https://spa.xfinity.com/postmaster). Keyed here by Comcast's MX names
        // (mx1.comcast.net, mx2.comcast.net).
        Preset(provider: "Comcast", patterns: ["*.comcast.net"],
               limits: DeliveryLimits(connections: 25, messagesPerConnection: 1000, requireTLS: true),
               source: "KumoMTA shaping.toml [comcast.net]; spa.xfinity.com/postmaster"),
        // GMX and WEB.DE: 4 connections, 20 messages per connection, TLS required,
        // KumoMTA community/shaping.toml [provider."gmx.net_web.de"] (community
        // contributed, not from the provider).
        Preset(provider: "GMX / WEB.DE", patterns: ["*.gmx.net", "*.web.de"],
               limits: DeliveryLimits(connections: 4, messagesPerConnection: 20, requireTLS: true),
               source: "KumoMTA community/shaping.toml [provider.gmx.net_web.de]"),
    ]

    /// Every preset pattern with its limits, as `SiteLimits(presets:)` takes them.
    public static var sitePatterns: [String: DeliveryLimits] {
        var result: [String: DeliveryLimits] = [:]
        for preset in all {
            for pattern in preset.patterns { result[pattern] = preset.limits }
        }
        return result
    }
}
