import Delivery

/// The report lines about the sending host: its EHLO name, its addresses' reverse DNS,
/// and where bounces return to.
public enum HostChecks {
    /// Whether `name` is a fully qualified domain name a receiver accepts in EHLO
    /// (RFC 5321 §4.1.1.1), and that it resolves.
    public static func ehlo(_ name: String, source: String, answer: Result<[String], DNSLookupError>) -> DoctorFinding {
        let publish = "set helo: to this host's public name (one whose A record and PTR match), e.g. helo: mail.example.com"
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if IPAddress(name) != nil {
            return DoctorFinding(.fail, "EHLO", "\(name) (\(source)) is an address, not a name", fix: publish)
        }
        guard labels.count >= 2, labels.allSatisfy({ label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }), labels.last!.contains(where: \.isLetter), name.lowercased() != "localhost.localdomain" else {
            return DoctorFinding(.fail, "EHLO", "\(name) (\(source)) is not a fully qualified domain name: many receivers refuse it", fix: publish)
        }
        switch answer {
        case .success(let addresses):
            return DoctorFinding(.ok, "EHLO", "\(name) (\(source)) is a fully qualified name with address \(addresses.joined(separator: ", "))")
        case .failure(let error) where error.isTemporary:
            return DoctorFinding(.warn, "EHLO", "\(name) (\(source)): \(error)")
        case .failure(let error):
            return DoctorFinding(.fail, "EHLO", "\(name) (\(source)) does not resolve: \(error)", fix: "publish \(name) A <your sending IP>")
        }
    }

    /// Forward-confirmed reverse DNS (FCrDNS) of one sending address: its PTR names one
    /// host, that host resolves back to the address, and it is the EHLO name.
    ///
    /// - Parameters:
    ///   - ptr: the PTR lookup of the address.
    ///   - forward: the address lookup of each name the PTR gave.
    public static func reverseDNS(of address: IPAddress, ehlo: String, ptr: Result<[String], DNSLookupError>,
                                  forward: [String: Result<[String], DNSLookupError>]) -> DoctorFinding {
        let ask = "ask whoever owns \(address) (your hosting provider) to set its PTR to \(ehlo), and publish \(ehlo) \(address.isIPv4 ? "A" : "AAAA") \(address)"
        let names: [String]
        switch ptr {
        case .success(let found): names = found
        case .failure(let error) where error.isTemporary:
            return DoctorFinding(.warn, "PTR", "\(address): \(error)")
        case .failure:
            return DoctorFinding(.fail, "PTR", "\(address) has no PTR record: many receivers refuse mail from it", fix: ask)
        }
        if names.count > 1 {
            return DoctorFinding(.warn, "PTR", "\(address) has \(names.count) PTR records (\(names.joined(separator: ", "))): receivers may take either", fix: ask)
        }
        let name = names[0]
        let confirmed: Bool
        switch forward[name] {
        case .success(let addresses)?: confirmed = addresses.compactMap(IPAddress.init).contains(address)
        case .failure(let error)? where error.isTemporary:
            return DoctorFinding(.warn, "PTR", "\(address) -> \(name), whose address lookup failed for now: \(error)")
        default: confirmed = false
        }
        guard confirmed else {
            return DoctorFinding(.fail, "PTR", "\(address) -> \(name), but \(name) does not resolve back to \(address) (no forward-confirmed reverse DNS)",
                                 fix: "publish \(name) \(address.isIPv4 ? "A" : "AAAA") \(address)")
        }
        guard name == ehlo.lowercased() else {
            return DoctorFinding(.warn, "PTR", "\(address) -> \(name) -> \(address), but the EHLO name is \(ehlo)",
                                 fix: "set helo: \(name), or \(ask)")
        }
        return DoctorFinding(.ok, "PTR", "\(address) -> \(name) -> \(address), the EHLO name")
    }

    /// Whether bounces to the MAIL FROM domain can come back: it needs an MX.
    public static func bounceMX(_ domain: String, verp: Bool, answer: Result<MXLookup, DNSLookupError>) -> DoctorFinding {
        let what = verp ? "the VERP bounce domain" : "the bounce domain (MAIL FROM)"
        let publish = "publish \(domain) MX 10 <the host that receives its bounces, e.g. mail.\(domain)>"
        switch answer {
        case .success(.exchanges(let hosts, _)):
            return DoctorFinding(.ok, "MX", "\(domain), \(what), has MX \(hosts.map(\.description).joined(separator: ", "))")
        case .success(.nullMX):
            return DoctorFinding(.fail, "MX", "\(domain), \(what), has a null MX (RFC 7505): bounces cannot return, and receivers refuse such a sender", fix: publish)
        case .success(.implicit):
            return DoctorFinding(.warn, "MX", "\(domain), \(what), has no MX: bounces go to its address record", fix: publish)
        case .failure(let error) where error.isTemporary:
            return DoctorFinding(.warn, "MX", "\(domain): \(error)")
        case .failure(let error):
            return DoctorFinding(.fail, "MX", "\(domain), \(what): \(error)", fix: publish)
        }
    }
}
