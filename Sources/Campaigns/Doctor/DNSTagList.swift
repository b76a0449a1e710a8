import Foundation

/// A `tag=value; tag=value` record, as DKIM keys (RFC 6376 §3.2) and DMARC policies
/// (RFC 7489 §6.4) are written.
public struct DNSTagList: Sendable, Equatable {
    /// Tags lower-cased, in the order written; values trimmed of surrounding space.
    public var tags: [(name: String, value: String)]

    public static func == (lhs: DNSTagList, rhs: DNSTagList) -> Bool {
        lhs.tags.map(\.name) == rhs.tags.map(\.name) && lhs.tags.map(\.value) == rhs.tags.map(\.value)
    }

    /// Parses `text`; nil when a part is not `tag=value` or a tag appears twice (both
    /// make the record invalid for a verifier).
    public init?(_ text: String) {
        var tags: [(name: String, value: String)] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: false) {
            let trimmed = part.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }  // a trailing ";" is allowed
            guard let equals = trimmed.firstIndex(of: "=") else { return nil }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
                  !tags.contains(where: { $0.name == name }) else { return nil }
            tags.append((name, value))
        }
        self.tags = tags
    }

    public subscript(_ name: String) -> String? {
        tags.first { $0.name == name }?.value
    }
}
