import Foundation

/// An IPv4 or IPv6 address as its octets, for the sums DNS checks make with it: the
/// reversed names of PTR and blocklist queries, and SPF's `ip4:`/`ip6:` networks.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 octets for IPv4, 16 for IPv6.
    public let octets: [UInt8]

    public var isIPv4: Bool { octets.count == 4 }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text; nil for anything else.
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            octets = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 client it maps
            // (RFC 7208 §5).
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                octets = Array(bytes[12..<16])
            } else {
                octets = bytes
            }
        } else {
            return nil
        }
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = octets.withUnsafeBytes { bytes in
            inet_ntop(isIPv4 ? AF_INET : AF_INET6, bytes.baseAddress, &text, socklen_t(text.count)) != nil
        }
        return ok ? text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : octets.map(String.init).joined(separator: ".")
    }

    /// The address reversed under `zone`: octets for IPv4 (`4.3.2.1.zone`), nibbles for
    /// IPv6, as PTR (`in-addr.arpa`, `ip6.arpa`) and DNS blocklists are queried.
    public func reversed(under zone: String) -> String {
        let labels: [String]
        if isIPv4 {
            labels = octets.reversed().map(String.init)
        } else {
            labels = octets.reversed().flatMap { [String($0 & 0x0f, radix: 16), String($0 >> 4, radix: 16)] }
        }
        return (labels + [zone]).joined(separator: ".")
    }

    /// The PTR query name.
    public var reverseName: String { reversed(under: isIPv4 ? "in-addr.arpa" : "ip6.arpa") }

    /// Whether the first `prefix` bits equal those of `network` (of the same family).
    public func isIn(_ network: IPAddress, prefix: Int) -> Bool {
        guard network.octets.count == octets.count else { return false }
        var remaining = max(0, min(prefix, octets.count * 8))
        for index in octets.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if octets[index] & mask != network.octets[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// Loopback, link-local, private (RFC 1918, RFC 4193) or otherwise not reachable
    /// from the internet: a receiving server never sees such an address.
    public var isInternal: Bool {
        let v4: [(String, Int)] = [("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8),
                                   ("169.254.0.0", 16), ("172.16.0.0", 12), ("192.168.0.0", 16)]
        let v6: [(String, Int)] = [("::", 127), ("fc00::", 7), ("fe80::", 10)]
        return (isIPv4 ? v4 : v6).contains { isIn(IPAddress($0.0)!, prefix: $0.1) }
    }
}
