/// The header fields of a message or of a MIME part, unfolded (RFC 5322 §2.2.3), in the
/// order they were written. Names compare case-insensitively.
///
/// Lines may end in CRLF or LF alone: mailbox files written by MTAs hold LF, messages
/// read over POP3 hold CRLF, and a bounce mailbox can mix both.
public struct HeaderBlock: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    public var fields: [Field]

    public init(fields: [Field] = []) { self.fields = fields }

    /// The first field called `name`, its value trimmed.
    public subscript(_ name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Every field called `name`, in order.
    public func all(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// Parses `bytes` as header lines. A line that is neither a field nor a continuation
    /// (no colon) is skipped: real bounces carry such debris (an mbox "From " line, a
    /// broken header of the returned message), and rejecting the whole message for it
    /// would lose the report.
    public init(parsing bytes: ArraySlice<UInt8>) {
        var fields: [Field] = []
        for line in Lines(bytes) {
            guard let first = line.first else { continue }
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                // RFC 5322 unfolding removes only the line break; the indentation MTAs fold
                // with (a tab, four spaces) becomes one space, so a diagnostic reads as
                // the server wrote it.
                if !fields.isEmpty {
                    let rest = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                    fields[fields.count - 1].value += " " + Self.text(rest)
                }
                continue
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = Self.text(line[line.startIndex..<colon]).trimmingASCIISpaces()
            guard !name.isEmpty, !name.contains(" ") else { continue }
            fields.append(Field(name: name, value: Self.text(line[(colon + 1)...])))
        }
        self.fields = fields.map { Field(name: $0.name, value: $0.value.trimmingASCIISpaces()) }
    }

    /// Header text is ASCII by the RFCs; UTF-8 (RFC 6532) is common; anything else is
    /// shown with replacement characters rather than refused.
    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}

/// The lines of a byte range, each without its LF or CRLF.
struct Lines: Sequence, IteratorProtocol {
    private var rest: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

    mutating func next() -> ArraySlice<UInt8>? {
        guard !rest.isEmpty else { return nil }
        let end = rest.firstIndex(of: UInt8(ascii: "\n")) ?? rest.endIndex
        var line = rest[rest.startIndex..<end]
        rest = end == rest.endIndex ? rest[end...] : rest[(end + 1)...]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        return line
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && lowercased() == other.lowercased()
    }

    func trimmingASCIISpaces() -> String {
        let bytes = Array(utf8)
        var start = 0, end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 || bytes[start] == 0x0D || bytes[start] == 0x0A { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 || bytes[end - 1] == 0x0D || bytes[end - 1] == 0x0A { end -= 1 }
        return start == 0 && end == bytes.count ? self : String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
