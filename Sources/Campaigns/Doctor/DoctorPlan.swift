import Foundation
import MailMessage

/// What `salvo doctor` checks, decided from the configuration and the stored campaigns
/// before any lookup: the From domains, the DKIM key, the bounce domains, the EHLO name,
/// the sending addresses and the blocklists, each with where it came from.
public struct DoctorPlan: Sendable {
    public struct DKIMTarget: Sendable {
        public var domain: String
        public var selector: String
        public var key: Result<DKIMKey, DKIMKeyError>

        public init(domain: String, selector: String, key: Result<DKIMKey, DKIMKeyError>) {
            self.domain = domain
            self.selector = selector
            self.key = key
        }

        public var recordName: String { "\(selector)._domainkey.\(domain)" }
    }

    /// A campaign as far as the checks need it: its From address and the hosts its
    /// links point to.
    public struct CampaignLinks: Sendable {
        public var from: String
        public var linkHosts: [String]

        public init(from: String, linkHosts: [String]) {
            self.from = from
            self.linkHosts = linkHosts
        }
    }

    public var fromDomains: [String]
    public var domainSource: String
    public var dkim: DKIMTarget?
    /// `verp.bounce_domain`, when set; else each From domain is its own bounce domain.
    public var verpBounceDomain: String?
    public var verp: Bool
    public var helo: String
    public var heloSource: String
    public var sendingIPs: [IPAddress]
    public var ipSource: String
    /// Domains checked on the domain blocklists: the From domains and the link hosts.
    public var listedDomains: [String]
    public var ipBlocklists: [String]
    public var domainBlocklists: [String]
    /// What `dns.server` says, for the report's first lines.
    public var resolver: String
    /// Notes for the report's first lines (a relay, addresses left out).
    public var notes: [String]

    public func bounceDomain(for fromDomain: String) -> String { verpBounceDomain ?? fromDomain }

    /// Why no plan can be made.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - domain: the DOMAIN argument, if given.
    ///   - campaigns: the stored campaigns.
    ///   - dkimKey: the configured key as loaded (nil without a `dkim` section).
    ///   - machineAddresses: this machine's interface addresses.
    public init(configuration: SalvoConfiguration, domain: String?, campaigns: [CampaignLinks],
                dkimKey: Result<DKIMKey, DKIMKeyError>?, machineAddresses: [IPAddress]) throws(Failure) {
        func domainOf(_ from: String) -> String? { (try? Mailbox(parsing: from))?.domain.lowercased() }
        let campaignDomains = Self.unique(campaigns.compactMap { domainOf($0.from) })
        if let domain {
            var name = domain.lowercased()
            if name.hasSuffix(".") { name.removeLast() }
            guard name.contains("."), !name.contains(" ") else { throw Failure(description: "'\(domain)' is not a domain name") }
            fromDomains = [name]
            domainSource = "the argument"
        } else if !campaignDomains.isEmpty {
            fromDomains = campaignDomains
            domainSource = "the From address of the stored campaigns"
        } else if let dkim = configuration.dkim {
            fromDomains = [dkim.domain]
            domainSource = "dkim.domain"
        } else {
            throw Failure(description: "no domain to check: name one (salvo doctor shop.example), or configure dkim.domain, or create a campaign")
        }
        if let settings = configuration.dkim, let dkimKey {
            dkim = DKIMTarget(domain: settings.domain, selector: settings.selector, key: dkimKey)
        }
        verp = configuration.verp != nil
        verpBounceDomain = configuration.verp?.bounceDomain
        helo = configuration.heloName
        heloSource = configuration.helo == nil ? "this host's name; set helo: to choose" : "helo"
        var notes: [String] = []
        if configuration.doctor.sendingIPs.isEmpty {
            let usable = machineAddresses.filter { !$0.isInternal }
            let skipped = machineAddresses.filter { $0.isInternal && !$0.isIn(IPAddress("127.0.0.0")!, prefix: 8) && $0 != IPAddress("::1")! }
            sendingIPs = Self.unique(usable)
            ipSource = "this machine's addresses; set doctor.sending_ips to choose"
            if !skipped.isEmpty {
                notes.append("left out (private or link-local, never seen by a receiver): \(skipped.map(\.description).joined(separator: ", "))")
            }
            if usable.isEmpty {
                notes.append("this machine has no public address: receivers see the address of its NAT or relay; set doctor.sending_ips to it")
            }
        } else {
            sendingIPs = Self.unique(configuration.doctor.sendingIPs)
            ipSource = "doctor.sending_ips"
        }
        if configuration.delivery.mode == .relay, let relay = configuration.delivery.relay {
            notes.append("delivery.mode is relay: receivers see \(relay.host)'s addresses; list them in doctor.sending_ips")
        }
        let checked = fromDomains
        let links = campaigns.filter { campaign in domainOf(campaign.from).map(checked.contains) ?? false }.flatMap(\.linkHosts)
        listedDomains = Self.unique(checked + links.map { $0.lowercased() })
        ipBlocklists = configuration.doctor.ipBlocklists
        domainBlocklists = configuration.doctor.domainBlocklists
        resolver = configuration.dns.server.map { "\($0) (dns.server)" } ?? "the system resolver (/etc/resolv.conf)"
        self.notes = notes
    }

    /// The hosts of the http(s) links in a template or URL, leaving out those a template
    /// field makes (`https://{{host}}/…`).
    public static func linkHosts(in text: String) -> [String] {
        var hosts: [String] = []
        var rest = Substring(text)
        while let range = rest.range(of: "http", options: .caseInsensitive) {
            rest = rest[range.upperBound...]
            var scheme = rest
            if scheme.lowercased().hasPrefix("s") { scheme = scheme.dropFirst() }
            guard scheme.hasPrefix("://") else { continue }
            let authority = scheme.dropFirst(3).prefix { !"/?#\"' <>\n\r\t".contains($0) }
            guard !authority.contains("{") else { continue }
            var host = authority.split(separator: "@").last.map(String.init) ?? ""
            if let colon = host.lastIndex(of: ":"), !host.hasPrefix("[") { host = String(host[..<colon]) }
            host = host.lowercased()
            if host.hasSuffix(".") { host.removeLast() }
            if host.contains("."), IPAddress(host) == nil, !hosts.contains(host) { hosts.append(host) }
        }
        return hosts
    }

    static func unique<T: Hashable>(_ items: [T]) -> [T] {
        var seen = Set<T>()
        return items.filter { seen.insert($0).inserted }
    }
}
