import Delivery

/// One DNS blocklist query (RFC 5782) and what its answer means.
public enum BlocklistCheck {
    /// The name to look up: the reversed address (IPv4 octets, IPv6 nibbles), or the
    /// domain itself, under the list's zone.
    public static func queryName(_ address: IPAddress, zone: String) -> String { address.reversed(under: zone) }
    public static func queryName(_ domain: String, zone: String) -> String { "\(domain).\(zone)" }

    /// `subject` (an address or a domain) looked up as `name` in `zone`.
    public static func finding(_ subject: String, zone: String, answer: Result<[String], DNSLookupError>) -> DoctorFinding {
        let addresses: [IPAddress]
        switch answer {
        case .success(let found): addresses = found.compactMap(IPAddress.init)
        case .failure(.noSuchDomain), .failure(.noRecords):
            return DoctorFinding(.ok, "DNSBL", "\(subject) is not listed on \(zone)")
        case .failure(let error):
            return DoctorFinding(.warn, "DNSBL", "\(subject) on \(zone): cannot tell, \(error)")
        }
        let loopback = IPAddress("127.0.0.0")!
        let refusal = IPAddress("127.255.255.0")!
        // Spamhaus answers 127.255.255.0/24 to refuse a query (a public or open
        // resolver, over quota, a typo), never to list; its DBL answers 127.0.1.255 to a
        // query it does not take.
        if addresses.contains(where: { $0.isIn(refusal, prefix: 24) || $0 == IPAddress("127.0.1.255")! }) {
            return DoctorFinding(.warn, "DNSBL", "\(subject) on \(zone): the query was refused (\(addresses.map(\.description).joined(separator: ", "))), not answered: the list does not answer this resolver (a public resolver, or over its free quota)",
                                 fix: "run salvo doctor through a resolver of your own (dns.server), not a public one")
        }
        let codes = addresses.filter { $0.isIn(loopback, prefix: 8) }
        guard !codes.isEmpty else {
            return DoctorFinding(.warn, "DNSBL", "\(subject) on \(zone): answered \(found(answer)), which is not a blocklist code (a resolver that rewrites unknown names?)")
        }
        return DoctorFinding(.fail, "DNSBL", "\(subject) is listed on \(zone) (\(codes.map(\.description).joined(separator: ", ")))",
                             fix: "find why on the list's lookup page for \(subject), mend the cause, then ask \(zone) to delist it")
    }

    private static func found(_ answer: Result<[String], DNSLookupError>) -> String {
        (try? answer.get())?.joined(separator: ", ") ?? ""
    }
}
