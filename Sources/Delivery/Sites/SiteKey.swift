/// What makes two recipients' mail interchangeable on the wire: the set of hosts it
/// goes to (and the port). Recipients queue per site, a site has one connection pool
/// and one set of limits, so domains served by the same MX hosts (every Google
/// Workspace domain, every Microsoft 365 tenant on one cluster) share them, as
/// async-http-client keys its pools by everything that makes two connections the same.
///
/// The key is the sorted, lower-cased, de-duplicated host list: MX preferences are left
/// out, because two domains listing the same hosts in a different order still reach the
/// same servers. A route or relay is a site of one `host:port`.
public struct SiteKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Host names (or literal addresses), sorted, lower-cased, without a trailing dot.
    public let hosts: [String]
    public let port: Int
    /// Set when a domain has limits of its own (a `limits.domains` entry with pool
    /// settings) and so is split out of the site it would otherwise share.
    public let domain: String?

    /// The site of a domain whose MX hosts are `hosts` (any order).
    public init(mxHosts hosts: some Sequence<String>, port: Int = 25) {
        self.hosts = Array(Set(hosts.map(Self.normalize).filter { !$0.isEmpty })).sorted()
        self.port = port
        self.domain = nil
    }

    /// The site of a domain's MX records.
    public init(mx records: [MXRecord], port: Int = 25) {
        self.init(mxHosts: records.map(\.exchange), port: port)
    }

    /// A route (`delivery.routes`) or the relay: one `host:port`.
    public init(host: String, port: Int) {
        self.init(mxHosts: [host], port: port)
    }

    /// A domain with no MX: its own address records are the implicit MX (RFC 5321 §5.1).
    public static func implicitMX(domain: String) -> SiteKey {
        SiteKey(mxHosts: [domain])
    }

    /// The site a `Router` names in `Route.deliver(site:…)`: `mx:host1,host2` (MX hosts,
    /// or the domain itself for an implicit MX), `route:host:port` or `relay:host:port`
    /// (a bracketed or bare IPv6 address keeps its colons; the port is after the last
    /// one). Nil for anything else. `mxPort` is the port MX hosts are reached on.
    public init?(routerSite name: String, mxPort: Int = 25) {
        if name.hasPrefix("mx:") {
            let hosts = name.dropFirst(3).split(separator: ",").map(String.init)
            guard !hosts.isEmpty else { return nil }
            self.init(mxHosts: hosts, port: mxPort)
        } else if name.hasPrefix("route:") || name.hasPrefix("relay:") {
            let endpoint = name.drop(while: { $0 != ":" }).dropFirst()
            guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]),
                  colon > endpoint.startIndex
            else { return nil }
            var host = String(endpoint[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.init(host: host, port: port)
        } else {
            return nil
        }
    }

    private init(hosts: [String], port: Int, domain: String?) {
        self.hosts = hosts
        self.port = port
        self.domain = domain
    }

    /// This site, reserved for `domain` alone.
    public func split(for domain: String) -> SiteKey {
        SiteKey(hosts: hosts, port: port, domain: Self.normalize(domain))
    }

    /// `alt1.aspmx.l.google.com,aspmx.l.google.com`, with `:port` when it is not 25 and
    /// ` (for example.com)` for a split site: short enough for a log label.
    public var description: String {
        var text = hosts.joined(separator: ",")
        if port != 25 { text += ":\(port)" }
        if let domain { text += " (for \(domain))" }
        return text
    }

    public static func < (lhs: SiteKey, rhs: SiteKey) -> Bool {
        lhs.description < rhs.description
    }

    static func normalize(_ host: String) -> String {
        var host = host.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        return host
    }
}
