import Foundation

extension SalvoConfiguration {
    /// The `doctor:` section: what `salvo doctor` checks against.
    public struct DoctorSettings: Sendable, Equatable {
        /// The addresses receivers see mail come from; empty means this machine's
        /// non-loopback, non-private addresses.
        public var sendingIPs: [IPAddress] = []
        /// DNS blocklist zones queried with each sending address.
        public var ipBlocklists = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]
        /// DNS blocklist zones queried with the From and link domains.
        public var domainBlocklists = ["dbl.spamhaus.org"]

        public init() {}
    }

    /// Reads `doctor: { sending_ips: [...], blocklists: { ips: [...], domains: [...] } }`.
    static func doctor(_ value: YAMLValue) throws -> DoctorSettings {
        var settings = DoctorSettings()
        let keys = try value.mapping(known: ["sending_ips", "blocklists"])
        if let ips = keys["sending_ips"] {
            settings.sendingIPs = try ips.array().map { item in
                let text = try item.nonEmptyString()
                guard let address = IPAddress(text.trimmingCharacters(in: .whitespaces)) else {
                    throw item.error("expected an IPv4 or IPv6 address, found '\(text)'")
                }
                return address
            }
        }
        if let lists = keys["blocklists"] {
            let zones = try lists.mapping(known: ["ips", "domains"])
            func names(_ value: YAMLValue) throws -> [String] {
                try value.array().map { item in
                    let text = try item.nonEmptyString().lowercased()
                    let zone = text.hasSuffix(".") ? String(text.dropLast()) : text
                    guard zone.contains("."), zone.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.".contains($0)) }) else {
                        throw item.error("expected a DNS zone such as zen.spamhaus.org, found '\(text)'")
                    }
                    return zone
                }
            }
            if let ips = zones["ips"] { settings.ipBlocklists = try names(ips) }
            if let domains = zones["domains"] { settings.domainBlocklists = try names(domains) }
        }
        return settings
    }
}
