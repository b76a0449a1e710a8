#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The name this host says EHLO with when none is configured, found the way Postfix
/// finds `myhostname`: `gethostname()`, then the canonical name the resolver gives for it
/// (`/etc/hosts` or DNS), so a machine called `mx1` in `mx1.shop.example` says
/// `EHLO mx1.shop.example`. Many receivers refuse a name without a dot
/// (`504 5.5.2 … need fully-qualified hostname`).
public enum HostName {
    /// The fully-qualified host name when the resolver knows one, else the bare host name.
    public static func fullyQualified() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bare = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard !bare.isEmpty else { return "localhost" }
        if isFullyQualified(bare) { return bare }
        return canonicalName(of: bare).flatMap { isFullyQualified($0) ? $0 : nil } ?? bare
    }

    /// The resolver's canonical name for `host` (`AI_CANONNAME`), nil when it has none.
    public static func canonicalName(of host: String) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(first) }
        return first.pointee.ai_canonname.map { String(cString: $0) }
    }

    /// A name RFC 5321 §4.1.1.1 accepts as the EHLO argument without complaint: a domain
    /// with at least two labels (`mail.shop.example`), or an address literal (`[192.0.2.1]`).
    public static func isFullyQualified(_ name: String) -> Bool {
        if name.hasPrefix("["), name.hasSuffix("]"), name.count > 2 { return true }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty && $0.count <= 63 }) else { return false }
        // A dotted quad is an address, not a name; it must be written as a literal.
        return !labels.allSatisfy { $0.allSatisfy(\.isNumber) }
    }
}
