import SMTP

/// A configured response to a reply a provider is known to send when it wants less
/// mail: "when a site answers this, throttle it to a rate for a while" or "suspend it
/// for a while". The adaptive back-off handles every throttle signal the same way;
/// deferral rules encode what a provider has documented, such as Yahoo's `[TSS04]`,
/// which asks for hours of silence, not 30 seconds.
///
/// A rule matches a reply when every condition it names holds: the site (any of its MX
/// hosts matches one of `sites`; no `sites` means every site), the reply code prefix,
/// the enhanced code, and the text (a case-insensitive substring, or a regular
/// expression). Rules are tried in order and the first match acts: the user's
/// `deferral_rules` come before `DeferralRule.defaults`, so a user rule can replace a
/// shipped one for the same reply.
///
/// The rule only decides the site's pace; the recipient's own fate is still the reply
/// classification's (a 4xx defers it, a 5xx bounces it).
public struct DeferralRule: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        /// Run the site at `rate` for `duration` (`Throttles.override(site:to:until:)`).
        case throttle(Rate, for: Duration)
        /// Send nothing to the site for `duration` (`AdaptiveBackoff.suspend(until:)`).
        case suspend(for: Duration)
    }

    /// A label for logs and `salvo status`.
    public var name: String
    /// Sites the rule is for; empty for every site.
    public var sites: [SitePattern]
    /// A prefix of the three-digit reply code: `421`, `45`, `4`.
    public var codePrefix: String?
    public var enhancedCode: EnhancedCodePattern?
    public var text: TextPattern?
    public var action: Action
    /// Where the rule comes from (a provider's page, KumoMTA's shaping file, "config").
    public var source: String

    public init(name: String, sites: [SitePattern] = [], codePrefix: String? = nil, enhancedCode: EnhancedCodePattern? = nil,
                text: TextPattern? = nil, action: Action, source: String = "config") {
        self.name = name
        self.sites = sites
        self.codePrefix = codePrefix
        self.enhancedCode = enhancedCode
        self.text = text
        self.action = action
        self.source = source
    }

    /// A rule from configuration text, as `deferral_rules:` entries hold it. `key`
    /// names the entry in errors (`deferral_rules[2]`).
    ///
    /// - Parameters:
    ///   - code: `421`, `45` or `4`.
    ///   - enhanced: `4.7.0`, `4.7` or `4.7.500-699`.
    ///   - text: a case-insensitive substring of the reply text.
    ///   - regex: a regular expression searched in the reply text (instead of `text`).
    ///   - throttle: a rate (`10/min`), with `duration`.
    ///   - suspend: a duration (`2h`); give exactly one of `throttle` and `suspend`.
    ///   - duration: how long a throttle lasts (`30m`).
    public init(key: String, name: String? = nil, sites: [String] = [], code: String? = nil, enhanced: String? = nil,
                text: String? = nil, regex: String? = nil, throttle: String? = nil, suspend: String? = nil,
                duration: String? = nil) throws(DeferralRuleError) {
        var patterns: [SitePattern] = []
        for site in sites {
            guard let pattern = SitePattern(site) else { throw DeferralRuleError(key: "\(key).sites", problem: "'\(site)' is not an MX host name or a pattern such as *.google.com") }
            patterns.append(pattern)
        }
        if let code, code.isEmpty || code.count > 3 || !code.allSatisfy({ $0.isASCII && $0.isNumber }) || !["2", "3", "4", "5"].contains(code.first!) {
            throw DeferralRuleError(key: "\(key).code", problem: "expected a reply code or its prefix such as 421, 45 or 4, found '\(code)'")
        }
        var enhancedPattern: EnhancedCodePattern?
        if let enhanced {
            guard let parsed = EnhancedCodePattern(enhanced) else {
                throw DeferralRuleError(key: "\(key).enhanced", problem: "expected an enhanced status code such as 4.7.0, 4.7 or 4.7.500-699, found '\(enhanced)'")
            }
            enhancedPattern = parsed
        }
        var textPattern: TextPattern?
        switch (text, regex) {
        case (let text?, nil): textPattern = .contains(text)
        case (nil, let regex?):
            do { textPattern = try .regex(regex) } catch {
                throw DeferralRuleError(key: "\(key).regex", problem: "'\(regex)' is not a regular expression: \(error)")
            }
        case (nil, nil): break
        case (_?, _?): throw DeferralRuleError(key: key, problem: "give text or regex, not both")
        }
        if code == nil, enhancedPattern == nil, textPattern == nil {
            throw DeferralRuleError(key: key, problem: "a rule needs at least one of code, enhanced, text or regex, or it would match every reply")
        }
        let action: Action
        switch (throttle, suspend) {
        case (let rateText?, nil):
            guard let rate = Rate(rateText) else { throw DeferralRuleError(key: "\(key).throttle", problem: "expected a rate such as 10/min, found '\(rateText)'") }
            guard let durationText = duration else { throw DeferralRuleError(key: "\(key).duration", problem: "a throttle needs a duration such as 30m") }
            guard let span = ConfiguredDuration(durationText), span.seconds > 0 else { throw DeferralRuleError(key: "\(key).duration", problem: "expected a duration such as 30m or 2h, found '\(durationText)'") }
            action = .throttle(rate, for: span.duration)
        case (nil, let suspendText?):
            guard let span = ConfiguredDuration(suspendText), span.seconds > 0 else { throw DeferralRuleError(key: "\(key).suspend", problem: "expected a duration such as 30m or 2h, found '\(suspendText)'") }
            action = .suspend(for: span.duration)
        default:
            throw DeferralRuleError(key: key, problem: "give exactly one action: throttle (with duration) or suspend")
        }
        self.init(name: name ?? key, sites: patterns, codePrefix: code, enhancedCode: enhancedPattern, text: textPattern, action: action)
    }

    /// Whether the rule applies to `reply` from `site` (nil: the site is unknown, and
    /// only rules for every site can match).
    public func matches(_ reply: SMTPReply, site: SiteKey?) -> Bool {
        if !sites.isEmpty {
            guard let site, sites.contains(where: { $0.matches(site) }) else { return false }
        }
        if let codePrefix, !String(reply.code).hasPrefix(codePrefix) { return false }
        if let enhancedCode {
            guard let code = reply.enhancedCode, enhancedCode.matches(code) else { return false }
        }
        if let text, !text.matches(reply.text) { return false }
        return true
    }

    /// The first rule of `rules` that matches.
    public static func firstMatch(in rules: [DeferralRule], reply: SMTPReply, site: SiteKey?) -> DeferralRule? {
        rules.first { $0.matches(reply, site: site) }
    }
}

/// An enhanced status code to match: `4.7.0` exactly, `4.7` (any detail), or
/// `4.7.500-699` (a range of details, as Microsoft documents its 4.7.5xx–6xx family).
public struct EnhancedCodePattern: Sendable, Hashable, CustomStringConvertible {
    public var statusClass: Int
    public var subject: Int
    /// Nil for any detail.
    public var details: ClosedRange<Int>?

    public init(statusClass: Int, subject: Int, details: ClosedRange<Int>? = nil) {
        self.statusClass = statusClass
        self.subject = subject
        self.details = details
    }

    public init?(_ text: String) {
        let parts = text.trimmingCharactersASCIIWhitespace().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3,
              let statusClass = Int(parts[0]), [2, 4, 5].contains(statusClass),
              let subject = Int(parts[1]), (0...999).contains(subject)
        else { return nil }
        self.statusClass = statusClass
        self.subject = subject
        guard parts.count == 3 else { details = nil; return }
        let bounds = parts[2].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 1 || bounds.count == 2,
              let low = Int(bounds[0]), let high = Int(bounds.last!), (0...999).contains(low), low <= high
        else { return nil }
        details = low...high
    }

    public func matches(_ code: EnhancedStatusCode) -> Bool {
        code.statusClass == statusClass && code.subject == subject && (details?.contains(code.detail) ?? true)
    }

    public var description: String {
        guard let details else { return "\(statusClass).\(subject)" }
        if details.lowerBound == details.upperBound { return "\(statusClass).\(subject).\(details.lowerBound)" }
        return "\(statusClass).\(subject).\(details.lowerBound)-\(details.upperBound)"
    }
}

/// How a rule matches a reply's text.
public enum TextPattern: Sendable, Hashable, CustomStringConvertible {
    /// A case-insensitive substring.
    case contains(String)
    /// A regular expression, searched (not anchored) case-insensitively.
    case regex(CompiledPattern)

    public static func regex(_ source: String) throws -> TextPattern {
        .regex(try CompiledPattern(source))
    }

    public func matches(_ text: String) -> Bool {
        switch self {
        case .contains(let needle): text.lowercased().contains(needle.lowercased())
        case .regex(let pattern): pattern.matches(text)
        }
    }

    public var description: String {
        switch self {
        case .contains(let needle): "contains \"\(needle)\""
        case .regex(let pattern): "matches /\(pattern.source)/"
        }
    }

    /// A compiled regular expression, compared by its source text.
    public struct CompiledPattern: Sendable, Hashable {
        public let source: String
        /// `Regex` is an immutable value whose lazily compiled program is built behind
        /// an atomic in the standard library, so sharing it between tasks is safe; it
        /// is just not annotated `Sendable` yet.
        nonisolated(unsafe) private let regex: Regex<AnyRegexOutput>

        public init(_ source: String) throws {
            self.source = source
            self.regex = try Regex(source).ignoresCase()
        }

        public func matches(_ text: String) -> Bool {
            (try? regex.firstMatch(in: text)) != nil
        }

        public static func == (lhs: CompiledPattern, rhs: CompiledPattern) -> Bool { lhs.source == rhs.source }
        public func hash(into hasher: inout Hasher) { hasher.combine(source) }
    }
}

/// A `deferral_rules` entry that cannot be used; names the key and what is wrong.
public struct DeferralRuleError: Error, Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public var problem: String

    public var description: String { "\(key): \(problem)" }
}
