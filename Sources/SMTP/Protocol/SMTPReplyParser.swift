import NIOCore

/// Turns the bytes a server sends into `SMTPReply` values, one complete reply at a time.
///
/// The parser is incremental: feed it the cumulated input and it consumes whole replies,
/// leaving a partial one in the buffer. Hostile input cannot make it grow without bound:
/// a line longer than `maximumLineLength` or a reply with more than `maximumLines` lines
/// is an error. A line ending in a bare LF is accepted, as most MTAs do.
public struct SMTPReplyParser: Sendable {
    /// RFC 5321 §4.5.3.1.5 caps a reply line at 512 octets; real servers exceed it
    /// (long EHLO keywords, verbose rejections), so we allow more but not unboundedly.
    public var maximumLineLength: Int
    /// Generous for an EHLO reply, small enough that a server cannot make us buffer forever.
    public var maximumLines: Int

    private var pendingCode: Int?
    private var pendingLines: [Substring] = []

    public init(maximumLineLength: Int = 4096, maximumLines: Int = 128) {
        self.maximumLineLength = maximumLineLength
        self.maximumLines = maximumLines
    }

    /// True when part of a multi-line reply has been read and its last line is awaited.
    public var isInsideReply: Bool { pendingCode != nil }

    /// Reads the next complete reply from `buffer`, or returns nil when more bytes are needed.
    /// Bytes that belong to a following reply are left in the buffer.
    public mutating func parse(_ buffer: inout ByteBuffer) throws(SMTPReplyParserError) -> SMTPReply? {
        while true {
            let view = buffer.readableBytesView
            guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
                if view.count > maximumLineLength { throw .lineTooLong(length: view.count) }
                return nil
            }
            var end = lf
            if end > view.startIndex, view[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let length = end - view.startIndex
            if length > maximumLineLength { throw .lineTooLong(length: length) }
            let line = view[view.startIndex..<end]
            buffer.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
            if let reply = try consume(line: line) { return reply }
        }
    }

    private mutating func consume(line: ByteBufferView) throws(SMTPReplyParserError) -> SMTPReply? {
        guard line.count >= 3 else { throw .malformedLine(Self.printable(line)) }
        let start = line.startIndex
        func digit(_ byte: UInt8) -> Int? {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
        }
        guard let d1 = digit(line[start]), let d2 = digit(line[start + 1]), let d3 = digit(line[start + 2]),
              (2...5).contains(d1)
        else { throw .malformedLine(Self.printable(line)) }
        let code = d1 * 100 + d2 * 10 + d3
        let isLast: Bool
        if line.count == 3 {
            isLast = true
        } else if line[start + 3] == UInt8(ascii: " ") {
            isLast = true
        } else if line[start + 3] == UInt8(ascii: "-") {
            isLast = false
        } else {
            throw .malformedLine(Self.printable(line))
        }
        if let pendingCode, pendingCode != code {
            throw .inconsistentCode(expected: pendingCode, found: code)
        }
        // Server text is meant to be ASCII; decode leniently so odd bytes never fail a reply.
        let text = line.count > 4 ? String(decoding: line[(start + 4)...], as: UTF8.self) : ""
        pendingCode = code
        pendingLines.append(Substring(text))
        if pendingLines.count > maximumLines { throw .tooManyLines(maximumLines) }
        guard isLast else { return nil }
        defer {
            self.pendingCode = nil
            self.pendingLines.removeAll(keepingCapacity: true)
        }
        return Self.reply(code: code, lines: pendingLines)
    }

    /// Splits the RFC 3463 enhanced code off each line when the first line carries one
    /// whose class matches the reply code's first digit (RFC 2034 §4).
    static func reply(code: Int, lines: [Substring]) -> SMTPReply {
        guard let first = lines.first else { return SMTPReply(code: code, enhancedCode: nil, lines: []) }
        let firstToken = first.prefix { $0 != " " }
        guard let enhanced = EnhancedStatusCode(firstToken), enhanced.statusClass == code / 100 else {
            return SMTPReply(code: code, enhancedCode: nil, lines: lines.map(String.init))
        }
        // The first line's code was read above; only the lines after it are parsed again.
        var texts = [String(first.dropFirst(firstToken.count).drop { $0 == " " })]
        for line in lines.dropFirst() {
            let token = line.prefix { $0 != " " }
            texts.append(EnhancedStatusCode(token) == enhanced ? String(line.dropFirst(token.count).drop { $0 == " " }) : String(line))
        }
        return SMTPReply(code: code, enhancedCode: enhanced, lines: texts)
    }

    static func printable(_ bytes: some Collection<UInt8>) -> String {
        let shown = bytes.prefix(80).map { byte -> String in
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
        }.joined()
        return bytes.count > 80 ? shown + "…" : shown
    }
}

/// What was wrong with the bytes a server sent where a reply was expected.
public enum SMTPReplyParserError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A line without a valid three-digit code and separator (shown escaped, truncated).
    case malformedLine(String)
    /// A line of a multi-line reply carried a different code from the first line.
    case inconsistentCode(expected: Int, found: Int)
    /// A line longer than the parser's cap, or no line end within it.
    case lineTooLong(length: Int)
    /// A multi-line reply with more lines than the parser's cap.
    case tooManyLines(Int)

    public var description: String {
        switch self {
        case .malformedLine(let line): "malformed reply line \"\(line)\""
        case .inconsistentCode(let expected, let found): "multi-line reply changed its code from \(expected) to \(found)"
        case .lineTooLong(let length): "reply line too long (\(length) bytes without a line end)"
        case .tooManyLines(let cap): "reply has more than \(cap) lines"
        }
    }
}
