/// A sending rate as configured: `2000/s`, `3000/min`, `100/hour`, `50000/day`.
public struct Rate: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var count: Int
    /// The period in seconds.
    public var per: Int

    public init(count: Int, per: Int) {
        self.count = count
        self.per = per
    }

    public var perSecond: Double { Double(count) / Double(per) }

    private static let units: [(String, Int)] = [
        ("s", 1), ("sec", 1), ("second", 1), ("min", 60), ("minute", 60), ("m", 60),
        ("h", 3600), ("hour", 3600), ("d", 86_400), ("day", 86_400),
    ]

    /// Parses `N/unit`; nil when the text is not a rate.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let count = Int(parts[0].trimmingCharactersASCIIWhitespace()), count > 0,
              let per = Rate.units.first(where: { $0.0 == parts[1].trimmingCharactersASCIIWhitespace().lowercased() })?.1
        else { return nil }
        self.init(count: count, per: per)
    }

    public var description: String {
        switch per {
        case 1: "\(count)/s"
        case 60: "\(count)/min"
        case 3600: "\(count)/hour"
        case 86_400: "\(count)/day"
        default: "\(count)/\(per)s"
        }
    }
}

/// A configured span of time: `30s`, `15m`, `4h`, `2d`.
public struct ConfiguredDuration: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    public init?(_ text: String) {
        let text = String(text.trimmingCharactersASCIIWhitespace())
        guard let last = text.last, let number = Int(text.dropLast()), number >= 0 else { return nil }
        switch last {
        case "s": seconds = number
        case "m": seconds = number * 60
        case "h": seconds = number * 3600
        case "d": seconds = number * 86_400
        default: return nil
        }
    }

    public var duration: Duration { .seconds(seconds) }

    public var description: String {
        if seconds % 86_400 == 0, seconds > 0 { return "\(seconds / 86_400)d" }
        if seconds % 3600 == 0, seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

extension StringProtocol {
    func trimmingCharactersASCIIWhitespace() -> SubSequence {
        var lower = startIndex, upper = endIndex
        while lower < upper, self[lower] == " " || self[lower] == "\t" { lower = index(after: lower) }
        while upper > lower, self[index(before: upper)] == " " || self[index(before: upper)] == "\t" { upper = index(before: upper) }
        return self[lower..<upper]
    }
}
