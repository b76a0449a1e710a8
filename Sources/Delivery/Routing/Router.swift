import Foundation

/// What the router needs of DNS; `DNSResolver` in production, the same against dnsmasq
/// in tests.
public protocol DomainResolving: Sendable {
    func mx(_ domain: String) async throws(DNSLookupError) -> MXLookup
    func addresses(_ host: String) async throws(DNSLookupError) -> (addresses: [String], ttl: Int)
}

extension DNSResolver: DomainResolving {}

/// Decides where each recipient domain's mail goes: a configured route (`*` for any
/// domain), else the relay, else the domain's MX hosts by preference, else its own
/// address records (implicit MX). A null MX or a domain that does not exist bounces;
/// a DNS failure defers.
///
/// Answers are cached for their TTL, but at least `minimumTTL` (a send pass asks about
/// the same few domains thousands of times, and TTL 0 answers are common from local
/// resolvers).
public actor Router {
    public struct Endpoint: Hashable, Sendable {
        public var host: String
        public var port: Int
        /// A route's own TLS settings, carried to its destination (`Destination.tls`).
        public var tls: SessionTLS?
        public init(host: String, port: Int, tls: SessionTLS? = nil) {
            self.host = host
            self.port = port
            self.tls = tls
        }
    }

    private let routes: [String: Endpoint]
    private let relay: Endpoint?
    private let resolver: any DomainResolving
    private let port: Int
    private let minimumTTL: Int
    private let clock: @Sendable () -> Date
    private var cache: [String: (route: Route, expires: Date)] = [:]

    /// - Parameters:
    ///   - routes: domain (lower-case) or `*` → host and port. Routes to one host and
    ///     port are one site, pooled together: they should agree on their TLS settings.
    ///   - relay: every domain not routed goes here when set.
    ///   - port: the SMTP port of MX hosts (25; tests use another).
    public init(routes: [String: Endpoint] = [:], relay: Endpoint? = nil, resolver: any DomainResolving,
                port: Int = 25, minimumTTL: Int = 60, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.routes = routes
        self.relay = relay
        self.resolver = resolver
        self.port = port
        self.minimumTTL = minimumTTL
        self.clock = clock
    }

    public func route(_ domain: String) async -> Route {
        let domain = domain.lowercased()
        if let endpoint = routes[domain] ?? routes["*"] {
            return await fixed(endpoint, via: .route)
        }
        if let relay {
            return await fixed(relay, via: .relay)
        }
        let now = clock()
        if let cached = cache[domain], cached.expires > now { return cached.route }
        let (route, ttl) = await lookUp(domain)
        cache[domain] = (route, now.addingTimeInterval(TimeInterval(max(ttl, minimumTTL))))
        return route
    }

    /// A route or relay: one destination; its name is resolved unless it is an address.
    private func fixed(_ endpoint: Endpoint, via: Route.Via) async -> Route {
        let key = "\(via.rawValue):\(endpoint.host):\(endpoint.port)"
        let now = clock()
        if let cached = cache[key], cached.expires > now { return cached.route }
        var ttl = minimumTTL
        let route: Route
        if Self.isAddress(endpoint.host) {
            route = .deliver(site: key, destinations: [Destination(host: endpoint.host, port: endpoint.port, addresses: [endpoint.host],
                                                                   tls: endpoint.tls)], via: via)
            ttl = Int.max / 2
        } else {
            do {
                let found = try await resolver.addresses(endpoint.host)
                ttl = found.ttl
                route = .deliver(site: key, destinations: [Destination(host: endpoint.host, port: endpoint.port, addresses: found.addresses,
                                                                       tls: endpoint.tls)], via: via)
            } catch {
                // A relay or route that does not resolve is a configuration problem or a
                // DNS outage: the mail waits either way.
                route = .deferral(reason: "\(via.rawValue) \(endpoint.host): \(error)")
            }
        }
        cache[key] = (route, now.addingTimeInterval(TimeInterval(min(max(ttl, minimumTTL), Int(Int32.max)))))
        return route
    }

    private func lookUp(_ domain: String) async -> (Route, Int) {
        let answer: MXLookup
        do {
            answer = try await resolver.mx(domain)
        } catch {
            return (Self.route(for: error), minimumTTL)
        }
        switch answer {
        case .nullMX(let ttl):
            return (.bounce(reason: "\(domain) accepts no mail (null MX, RFC 7505)"), ttl)
        case .implicit:
            do {
                let found = try await resolver.addresses(domain)
                let destination = Destination(host: domain, port: port, addresses: found.addresses)
                return (.deliver(site: "mx:\(domain)", destinations: [destination], via: .mx), found.ttl)
            } catch {
                if case .noRecords = error {
                    return (.bounce(reason: "\(domain) has neither MX nor address records"), minimumTTL)
                }
                return (Self.route(for: error), minimumTTL)
            }
        case .exchanges(let records, let mxTTL):
            var destinations: [Destination] = []
            var ttl = mxTTL
            var failures: [DNSLookupError] = []
            for record in records {
                do {
                    let found = try await resolver.addresses(record.exchange)
                    ttl = min(ttl, found.ttl)
                    destinations.append(Destination(host: record.exchange, port: port, addresses: found.addresses, preference: record.preference))
                } catch {
                    failures.append(error)
                }
            }
            if destinations.isEmpty {
                // Every MX host failed to resolve: temporary if any lookup was.
                if failures.contains(where: \.isTemporary) {
                    return (.deferral(reason: "no MX host of \(domain) resolves for now: \(failures[0])"), minimumTTL)
                }
                return (.bounce(reason: "no MX host of \(domain) has an address"), minimumTTL)
            }
            // The site is the set of MX hosts: domains hosted by one provider share it.
            let site = "mx:" + records.map(\.exchange).sorted().joined(separator: ",")
            return (.deliver(site: site, destinations: destinations, via: .mx), ttl)
        }
    }

    private static func route(for error: DNSLookupError) -> Route {
        switch error {
        case .noSuchDomain, .noRecords: .bounce(reason: "\(error)")
        case .temporary: .deferral(reason: "\(error)")
        }
    }

    private static func isAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
