import Delivery

/// Looks up a domain's SPF policy and everything it refers to (`include:`, `redirect=`,
/// `a`, `mx`), counting lookups as RFC 7208 §4.6.4 does: at most ten terms that cause
/// DNS queries across the whole tree, at most two that answer nothing. Terms past a
/// limit are kept as `overLimit` / `voidLimit`, so the evaluation says permerror only
/// for the addresses a receiver would reach them for.
public struct SPFExpansion {
    public static let lookupLimit = 10
    public static let voidLimit = 2

    private let resolver: DNSResolver
    private var lookups = 0
    private var voids = 0

    private init(resolver: DNSResolver) {
        self.resolver = resolver
    }

    /// The policy of `domain` with every lookup it needs done.
    public static func policy(of domain: String, resolver: DNSResolver) async -> SPFPolicy {
        var expansion = SPFExpansion(resolver: resolver)
        return await expansion.policy(of: SPFRecord.domain(domain))
    }

    private mutating func policy(of domain: String) async -> SPFPolicy {
        let texts: [String]
        do {
            texts = try await resolver.txt(domain)
        } catch {
            if error.isTemporary { return SPFPolicy(domain: domain, lookup: .temporary("\(error)")) }
            voids += 1
            return SPFPolicy(domain: domain, lookup: .none("\(error)"))
        }
        let records = texts.filter(SPFRecord.isSPF)
        if records.isEmpty { return SPFPolicy(domain: domain, lookup: .none("\(domain) has TXT records, none of them v=spf1")) }
        if records.count > 1 { return SPFPolicy(domain: domain, lookup: .multiple(records)) }
        let record: SPFRecord
        do {
            record = try SPFRecord(records[0])
        } catch {
            return SPFPolicy(domain: domain, lookup: .invalid(records[0], error))
        }
        var terms: [SPFPolicy.Term] = []
        for directive in record.directives {
            terms.append(SPFPolicy.Term(directive: directive, resolution: await resolve(directive, domain: domain)))
        }
        var redirect: SPFPolicy.Redirect?
        // RFC 7208 §6.1: redirect= is ignored when the record has an `all`.
        if let target = record.redirect, !record.directives.contains(where: { $0.mechanism == .all }) {
            if SPFRecord.hasMacro(target) {
                redirect = .unresolved(.unknowable("redirect=\(target) uses a macro"))
            } else if let refusal = countLookup("redirect=\(target)") {
                redirect = .unresolved(refusal)
            } else {
                redirect = .policy(await policy(of: target))
            }
        }
        return SPFPolicy(domain: domain, lookup: .record(record, terms: terms, redirect: redirect))
    }

    /// Counts one DNS-querying term; the resolution to keep instead when a limit is
    /// already reached.
    private mutating func countLookup(_ text: String) -> SPFPolicy.Term.Resolution? {
        if voids > Self.voidLimit { return .voidLimit }
        lookups += 1
        if lookups > Self.lookupLimit {
            return .overLimit("\(text) is lookup \(lookups), past the \(Self.lookupLimit) RFC 7208 §4.6.4 allows")
        }
        return nil
    }

    private mutating func resolve(_ directive: SPFRecord.Directive, domain: String) async -> SPFPolicy.Term.Resolution {
        switch directive.mechanism {
        case .all:
            return .all
        case .ip(let address, let prefix):
            return .networks([SPFPolicy.Network(address, prefix: prefix)])
        case .ptr:
            _ = countLookup(directive.text)
            return .unknowable("\(directive.text) depends on the client's reverse DNS (RFC 7208 §5.5 advises against it)")
        case .exists(let target):
            _ = countLookup(directive.text)
            return .unknowable("exists:\(target) depends on the message being checked")
        case .include(let target):
            if SPFRecord.hasMacro(target) { return .unknowable("\(directive.text) uses a macro") }
            if let refusal = countLookup(directive.text) { return refusal }
            return .include(await policy(of: target))
        case .a(let target, let v4, let v6):
            let name = target ?? domain
            if SPFRecord.hasMacro(name) { return .unknowable("\(directive.text) uses a macro") }
            if let refusal = countLookup(directive.text) { return refusal }
            let answer = await addresses(name)
            if let failure = answer.temporary { return .temporary("\(directive.text): \(failure)") }
            if answer.found.isEmpty, voids > Self.voidLimit { return .voidLimit }
            return .networks(answer.found.map { SPFPolicy.Network($0, prefix: $0.isIPv4 ? v4 : v6) })
        case .mx(let target, let v4, let v6):
            let name = target ?? domain
            if SPFRecord.hasMacro(name) { return .unknowable("\(directive.text) uses a macro") }
            if let refusal = countLookup(directive.text) { return refusal }
            let hosts: [MXRecord]
            do {
                switch try await resolver.mx(name) {
                case .exchanges(let exchanges, _): hosts = exchanges
                case .nullMX, .implicit:  // SPF's mx never falls back to the A record
                    voids += 1
                    return voids > Self.voidLimit ? .voidLimit : .networks([])
                }
            } catch {
                if error.isTemporary { return .temporary("\(directive.text): \(error)") }
                voids += 1
                return voids > Self.voidLimit ? .voidLimit : .networks([])
            }
            if hosts.count > Self.lookupLimit {
                return .overLimit("\(directive.text): \(name) has \(hosts.count) MX hosts, more than the \(Self.lookupLimit) RFC 7208 §4.6.4 allows")
            }
            var networks: [SPFPolicy.Network] = []
            for host in hosts {
                networks += await addresses(host.exchange, countVoid: false).found.map { SPFPolicy.Network($0, prefix: $0.isIPv4 ? v4 : v6) }
            }
            return .networks(networks)
        }
    }

    /// The addresses of `name`; none when it has none (a void lookup), and the reason
    /// when the lookup failed for now.
    private mutating func addresses(_ name: String, countVoid: Bool = true) async -> (found: [IPAddress], temporary: String?) {
        do {
            return (try await resolver.addresses(name).addresses.compactMap(IPAddress.init), nil)
        } catch {
            if error.isTemporary { return ([], "\(error)") }
            if countVoid { voids += 1 }
            return ([], nil)
        }
    }
}
