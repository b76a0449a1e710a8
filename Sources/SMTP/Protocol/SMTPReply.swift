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
    /// 4xx or 5xx: the command was refused, for now or for good.
    public var isFailure: Bool { (400..<600).contains(code) }
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

    /// Parses `2.1.5`; subject and detail have one to three digits (RFC 3463 §2). Read
    /// byte by byte: every reply of every transaction goes through here.
    public init?(_ text: Substring) {
        var parts = (statusClass: 0, subject: 0, detail: 0)
        var field = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, field < 2 else { return nil }
                field += 1
                digits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            digits += 1
            guard digits <= (field == 0 ? 1 : 3) else { return nil }
            let digit = Int(byte - UInt8(ascii: "0"))
            switch field {
            case 0: parts.statusClass = digit
            case 1: parts.subject = parts.subject * 10 + digit
            default: parts.detail = parts.detail * 10 + digit
            }
        }
        guard field == 2, digits > 0, [2, 4, 5].contains(parts.statusClass) else { return nil }
        self.init(statusClass: parts.statusClass, subject: parts.subject, detail: parts.detail)
    }

    public var description: String { "\(statusClass).\(subject).\(detail)" }
}

