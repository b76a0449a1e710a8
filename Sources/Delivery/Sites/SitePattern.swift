/// A name in `limits.sites`: an MX host name (`gmail-smtp-in.l.google.com`), a wildcard
/// for every host under a domain (`*.google.com`), or `*` for every host.
///
/// `*.google.com` matches `aspmx.l.google.com` but not `google.com` itself, as a
/// certificate wildcard or KumoMTA's `MXSuffix = ".google.com"` would. Comparison is
/// case-insensitive and ignores a trailing dot.
public struct SitePattern: Hashable, Sendable, CustomStringConvertible {
    /// The lower-cased pattern as written.
    public let text: String
    private let suffix: String?

    /// Nil when `text` is not a pattern: empty, a `*` anywhere but as the whole first
    /// label, or characters a host name cannot hold.
    public init?(_ text: String) {
        let written = String(text.trimmingCharactersASCIIWhitespace()).lowercased()
        let text = SiteKey.normalize(written)
        // "*." would normalise to "*", which matches everything: not what was meant.
        guard !text.isEmpty, text != "*" || written == "*" else { return nil }
        if text == "*" {
            suffix = ""
        } else if text.hasPrefix("*.") {
            let rest = text.dropFirst(2)
            guard !rest.isEmpty, !rest.contains("*"), Self.isHostName(rest) else { return nil }
            suffix = "." + rest
        } else {
            guard !text.contains("*"), Self.isHostName(Substring(text)) else { return nil }
            suffix = nil
        }
        self.text = text
    }

    public var description: String { text }

    public var isWildcard: Bool { suffix != nil }

    /// Whether `host` is matched.
    public func matches(host: String) -> Bool {
        let host = SiteKey.normalize(host)
        guard let suffix else { return host == text }
        return suffix.isEmpty || (host.hasSuffix(suffix) && host.count > suffix.count)
    }

    /// Whether any host of `site` is matched.
    public func matches(_ site: SiteKey) -> Bool {
        site.hosts.contains { matches(host: $0) }
    }

    /// Orders matches: an exact host beats any wildcard, a longer wildcard
    /// (`*.olc.protection.outlook.com`) beats a shorter one (`*.protection.outlook.com`),
    /// and `*` comes last. Higher is more specific.
    public var specificity: Int {
        guard let suffix else { return Int.max }
        return suffix.split(separator: ".").count
    }

    private static func isHostName(_ text: Substring) -> Bool {
        text.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "." || $0 == ":" || $0 == "_" }
            && !text.hasPrefix(".") && !text.contains("..")
    }
}
