import Foundation

/// One SPF record (RFC 7208 §4.6, §5, §6) as its terms: directives in order and the
/// `redirect=` modifier.
public struct SPFRecord: Sendable, Equatable {
    public enum Qualifier: String, Sendable, Equatable {
        case pass = "+", fail = "-", softfail = "~", neutral = "?"
    }

    public enum Mechanism: Sendable, Equatable {
        case all
        case include(String)
        /// The domain (nil: the record's own) and the IPv4 and IPv6 prefix lengths.
        case a(String?, v4: Int, v6: Int)
        case mx(String?, v4: Int, v6: Int)
        case ptr(String?)
        case ip(IPAddress, prefix: Int)
        case exists(String)
    }

    public struct Directive: Sendable, Equatable {
        public var qualifier: Qualifier
        public var mechanism: Mechanism
        /// The term as written, for the report.
        public var text: String
    }

    public var directives: [Directive]
    public var redirect: String?
    /// The text of the record.
    public var text: String

    /// Whether `text` is an SPF record at all: `v=spf1` alone or followed by a space.
    public static func isSPF(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower == "v=spf1" || lower.hasPrefix("v=spf1 ")
    }

    /// Parses an SPF record; the error names the term a receiver would reject
    /// (a permerror).
    public init(_ text: String) throws(SPFRecordError) {
        guard Self.isSPF(text) else { throw SPFRecordError("does not start with v=spf1") }
        self.text = text
        directives = []
        redirect = nil
        for term in text.split(separator: " ").dropFirst().map(String.init) {
            if let equals = term.firstIndex(of: "="), !term[..<equals].contains(":"), !term[..<equals].contains("/") {
                let name = term[..<equals].lowercased()
                let value = String(term[term.index(after: equals)...])
                guard !name.isEmpty, name.first!.isLetter,
                      name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                    throw SPFRecordError("'\(term)' is not a valid modifier")
                }
                if name == "redirect" {
                    guard redirect == nil else { throw SPFRecordError("redirect= appears twice") }
                    guard !value.isEmpty else { throw SPFRecordError("redirect= names no domain") }
                    redirect = Self.domain(value)
                }
                continue  // exp= and unknown modifiers do not change the result
            }
            var body = Substring(term)
            var qualifier = Qualifier.pass
            if let first = body.first, let q = Qualifier(rawValue: String(first)) {
                qualifier = q
                body = body.dropFirst()
            }
            directives.append(Directive(qualifier: qualifier, mechanism: try Self.mechanism(String(body), term: term), text: term))
        }
    }

    private static func mechanism(_ body: String, term: String) throws(SPFRecordError) -> Mechanism {
        let lower = body.lowercased()
        func argument(_ name: String) -> String? {
            guard lower.count > name.count, lower.hasPrefix(name + ":") else { return nil }
            return String(body.dropFirst(name.count + 1))
        }
        if lower == "all" { return .all }
        if let target = argument("include") { return .include(domain(target)) }
        if let target = argument("exists") { return .exists(target) }
        if lower == "ptr" { return .ptr(nil) }
        if let target = argument("ptr") { return .ptr(domain(target)) }
        if let network = argument("ip4") ?? argument("ip6") {
            let isV4 = lower.hasPrefix("ip4")
            let parts = network.split(separator: "/", maxSplits: 1).map(String.init)
            guard let address = IPAddress(parts[0]), address.isIPv4 == isV4 else {
                throw SPFRecordError("'\(term)': '\(parts[0])' is not an \(isV4 ? "IPv4" : "IPv6") address")
            }
            let limit = isV4 ? 32 : 128
            var prefix = limit
            if parts.count == 2 {
                guard let value = Int(parts[1]), value >= 0, value <= limit, !parts[1].hasPrefix("0") || parts[1] == "0" else {
                    throw SPFRecordError("'\(term)': '/\(parts[1])' is not a prefix length of 0 to \(limit)")
                }
                prefix = value
            }
            return .ip(address, prefix: prefix)
        }
        for name in ["a", "mx"] where lower == name || lower.hasPrefix(name + ":") || lower.hasPrefix(name + "/") {
            var rest = Substring(body.dropFirst(name.count))
            var target: String?
            if rest.hasPrefix(":") {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "/") ?? rest.endIndex
                target = domain(String(rest[..<end]))
                rest = rest[end...]
                guard !(target ?? "").isEmpty else { throw SPFRecordError("'\(term)' names no domain") }
            }
            // dual-cidr-length: [/N][//M]
            var v4 = 32, v6 = 128
            if !rest.isEmpty {
                let text = String(rest)
                let pieces = text.components(separatedBy: "//")
                guard pieces.count <= 2 else { throw SPFRecordError("'\(term)': bad prefix length") }
                if pieces[0].hasPrefix("/") {
                    guard let value = Int(pieces[0].dropFirst()), value >= 0, value <= 32 else { throw SPFRecordError("'\(term)': bad IPv4 prefix length") }
                    v4 = value
                } else if !pieces[0].isEmpty {
                    throw SPFRecordError("'\(term)': bad prefix length")
                }
                if pieces.count == 2 {
                    guard let value = Int(pieces[1]), value >= 0, value <= 128 else { throw SPFRecordError("'\(term)': bad IPv6 prefix length") }
                    v6 = value
                }
            }
            return name == "a" ? .a(target, v4: v4, v6: v6) : .mx(target, v4: v4, v6: v6)
        }
        throw SPFRecordError("'\(term)' is not an SPF mechanism")
    }

    /// A domain-spec as looked up: lower-cased, without a trailing dot.
    static func domain(_ text: String) -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    /// Whether a domain-spec holds a macro (`%{i}` and the like) whose value depends on
    /// the message being checked.
    static func hasMacro(_ text: String) -> Bool {
        text.contains("%{")
    }
}

/// Why an SPF record is invalid: receivers answer permerror for it.
public struct SPFRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
