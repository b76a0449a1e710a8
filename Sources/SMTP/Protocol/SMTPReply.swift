/// One reply from an SMTP server (RFC 5321 §4.2): a three-digit code and one or more
/// lines of text, with the RFC 3463 enhanced status code split out when the server
/// sends one.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit reply code, 200...599.
    public var code: Int
    /// The enhanced status code (`5.1.1`) carried by the first line, if any.
    public var enhancedCode: EnhancedStatusCode?
    /// The text of each line, without the code, the separator and the enhanced code.
    public var lines: [String]

    public init(code: Int, enhancedCode: EnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// The text of all lines joined by a space, as one would show it in a log or a report.
    public var text: String { lines.joined(separator: " ") }

    /// 2xx: the command succeeded.
    public var isPositiveCompletion: Bool { (200..<300).contains(code) }
    /// 3xx: the server waits for more (354 after DATA, 334 during AUTH).
    public var isIntermediate: Bool { (300..<400).contains(code) }
    /// 4xx: a temporary failure; the same command may succeed later.
    public var isTransientFailure: Bool { (400..<500).contains(code) }
    /// 5xx: a permanent failure.
    public var isPermanentFailure: Bool { (500..<600).contains(code) }
    /// 421: the server is closing the transmission channel.
    public var isServiceClosing: Bool { code == 421 }

    /// The reply as the server would have written it, one line per line, without CRLF.
    public var description: String {
        let enhanced = enhancedCode.map { "\($0) " } ?? ""
        return lines.enumerated().map { index, line in
            let separator = index == lines.count - 1 ? " " : "-"
            return "\(code)\(separator)\(enhanced)\(line)"
        }.joined(separator: "\n")
    }
}

/// An RFC 3463 enhanced mail system status code: `class.subject.detail`, e.g. `5.1.1`.
public struct EnhancedStatusCode: Sendable, Hashable, CustomStringConvertible {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    public var statusClass: Int
    public var subject: Int
    public var detail: Int

    public init(statusClass: Int, subject: Int, detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// Parses `2.1.5`; subject and detail have one to three digits (RFC 3463 §2).
    public init?(_ text: Substring) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              parts[0].count == 1, let statusClass = Int(parts[0]), [2, 4, 5].contains(statusClass),
              (1...3).contains(parts[1].count), parts[1].allSatisfy(\.isASCIIDigit), let subject = Int(parts[1]),
              (1...3).contains(parts[2].count), parts[2].allSatisfy(\.isASCIIDigit), let detail = Int(parts[2])
        else { return nil }
        self.init(statusClass: statusClass, subject: subject, detail: detail)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
