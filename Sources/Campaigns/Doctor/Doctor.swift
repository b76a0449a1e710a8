import Delivery
import Foundation
import MailMessage

/// `salvo doctor`: the go-live checks a postmaster makes by hand, run through the
/// resolver the configuration names. The lookups happen here; what they mean is decided
/// by the pure checks (`DKIMRecordCheck`, `SPFCheck`, `DMARCCheck`, `HostChecks`,
/// `BlocklistCheck`).
public struct Doctor: Sendable {
    public var resolver: DNSResolver

    public init(resolver: DNSResolver) {
        self.resolver = resolver
    }

    public init(configuration: SalvoConfiguration) {
        self.init(resolver: DNSResolver(server: configuration.dns.server.map { ($0.host, $0.port) }))
    }

    public func run(_ plan: DoctorPlan) async -> DoctorReport {
        var context = [
            "domain:      \(plan.fromDomains.joined(separator: ", ")) (\(plan.domainSource))",
            "DNS:         \(plan.resolver)",
            "sending IPs: \(plan.sendingIPs.isEmpty ? "none" : plan.sendingIPs.map(\.description).joined(separator: ", ")) (\(plan.ipSource))",
            "EHLO:        \(plan.helo) (\(plan.heloSource))",
        ]
        context += plan.notes.map { "note:        \($0)" }
        var findings: [DoctorFinding] = []

        if let dkim = plan.dkim {
            findings.append(DKIMRecordCheck.finding(name: dkim.recordName, answer: await capture { try await resolver.txt(dkim.recordName) }, key: dkim.key))
        } else {
            findings.append(DoctorFinding(.warn, "DKIM", "no dkim section: messages go out unsigned, and DMARC rests on SPF alone",
                                          fix: "run salvo dkim keygen --domain \(plan.fromDomains[0]) --selector s1, then the record it prints"))
        }
        var checkedBounceDomains: Set<String> = []
        for domain in plan.fromDomains {
            let bounce = plan.bounceDomain(for: domain)
            if checkedBounceDomains.insert(bounce).inserted {
                findings += SPFCheck.findings(await SPFExpansion.policy(of: bounce, resolver: resolver), addresses: plan.sendingIPs)
            }
            let name = "_dmarc.\(domain)"
            let answer = await capture { try await resolver.txt(name) }
            var parent: (String, Result<[String], DNSLookupError>)?
            let labels = domain.split(separator: ".")
            if labels.count > 2, (try? answer.get())?.contains(where: DMARCRecord.isDMARC) != true {
                // RFC 7489 §6.6.3: the policy of the organizational domain, taken here
                // as the last two labels.
                let organizational = "_dmarc." + labels.suffix(2).joined(separator: ".")
                parent = (organizational, await capture { try await resolver.txt(organizational) })
            }
            findings += DMARCCheck.findings(fromDomain: domain, answer: answer, parent: parent,
                                            dkimDomain: plan.dkim?.domain, bounceDomain: bounce)
        }
        for bounce in DoctorPlan.unique(plan.fromDomains.map(plan.bounceDomain(for:))) {
            findings.append(HostChecks.bounceMX(bounce, verp: plan.verp, answer: await capture { try await resolver.mx(bounce) }))
        }

        findings.append(HostChecks.ehlo(plan.helo, source: plan.heloSource,
                                        answer: await capture { try await resolver.addresses(plan.helo).addresses }))
        for address in plan.sendingIPs {
            let ptr = await capture { try await resolver.ptr(address.reverseName) }
            var forward: [String: Result<[String], DNSLookupError>] = [:]
            for name in ((try? ptr.get()) ?? []).prefix(10) {
                forward[name] = await capture { try await resolver.addresses(name).addresses }
            }
            findings.append(HostChecks.reverseDNS(of: address, ehlo: plan.helo, ptr: ptr, forward: forward))
        }
        if plan.sendingIPs.isEmpty {
            findings.append(DoctorFinding(.warn, "PTR", "no sending IPs: the reverse DNS, SPF coverage and IP blocklists go unchecked",
                                          fix: "set doctor.sending_ips: [your public sending address]"))
        }

        for address in plan.sendingIPs {
            for zone in plan.ipBlocklists {
                let name = BlocklistCheck.queryName(address, zone: zone)
                findings.append(BlocklistCheck.finding(address.description, zone: zone, answer: await capture { try await resolver.ipv4(name) }))
            }
        }
        for domain in plan.listedDomains {
            for zone in plan.domainBlocklists {
                let name = BlocklistCheck.queryName(domain, zone: zone)
                findings.append(BlocklistCheck.finding(domain, zone: zone, answer: await capture { try await resolver.ipv4(name) }))
            }
        }
        return DoctorReport(context: context, findings: findings)
    }

    /// A lookup's answer or its error, as the pure checks take them.
    private func capture<T>(_ lookup: () async throws -> T) async -> Result<T, DNSLookupError> {
        do {
            return .success(try await lookup())
        } catch let error as DNSLookupError {
            return .failure(error)
        } catch {
            return .failure(.temporary("?", reason: "\(error)"))  // the resolver throws nothing else
        }
    }
}
