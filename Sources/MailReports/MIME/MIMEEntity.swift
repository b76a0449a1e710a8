/// A message or one of its MIME parts, parsed far enough to find a report inside:
/// headers, content type, and for multipart/* the parts, for message/rfc822 the
/// enclosed message. Bodies stay as written (transfer-encoded); `decodedBody()` undoes
/// the encoding when a caller reads one.
///
/// Pure: bytes in, values out, so every DSN shape is tested without a mailbox.
public struct MIMEEntity: Sendable {
    public var headers: HeaderBlock
    public var contentType: ContentType
    /// The body as written, after the blank line that ends the headers.
    public var body: ArraySlice<UInt8>
    /// The parts of a multipart entity, in order; empty otherwise.
    public var parts: [MIMEEntity]
    /// The message inside a message/rfc822 (or message/global) entity: its headers, its
    /// body unparsed.
    public var enclosed: [MIMEEntity]

    /// How deep parts may nest: real reports are two or three levels deep; a limit
    /// keeps a hostile message from exhausting the stack.
    static let maximumDepth = 16

    public init(parsing bytes: [UInt8]) throws(BounceParseError) {
        try self.init(parsing: bytes[...], depth: 0, defaultType: .plainText)
    }

    /// `headersOnly`: read the headers and keep the body unparsed, as for a returned
    /// message: only its Message-ID and Return-Path matter, and a broken MIME structure
    /// in the sender's own message must not make the report around it unreadable.
    init(parsing bytes: ArraySlice<UInt8>, depth: Int, defaultType: ContentType, headersOnly: Bool = false) throws(BounceParseError) {
        guard depth <= Self.maximumDepth else { throw .tooDeep }
        let (headerBytes, body) = Self.splitHeaders(bytes)
        headers = HeaderBlock(parsing: headerBytes)
        self.body = body
        if let value = headers["Content-Type"] {
            // An unparseable Content-Type is text/plain (RFC 2045 §5.2).
            contentType = ContentType(parsing: value) ?? .plainText
        } else {
            contentType = defaultType
        }
        parts = []
        enclosed = []
        if headersOnly { return }
        switch contentType.type {
        case "multipart":
            guard let boundary = contentType.parameters["boundary"], !boundary.isEmpty else {
                throw .missingBoundary(contentType.mimeType)
            }
            let childDefault = contentType.subtype == "digest"
                ? ContentType(type: "message", subtype: "rfc822", parameters: [:]) : .plainText
            let pieces = Self.split(body, boundary: Array(boundary.utf8))
            guard !pieces.isEmpty else { throw .boundaryNotFound(boundary) }
            parts = try pieces.map { piece throws(BounceParseError) in
                try MIMEEntity(parsing: piece, depth: depth + 1, defaultType: childDefault)
            }
        case "message" where ["rfc822", "global"].contains(contentType.subtype):
            // RFC 2046 §5.2.1: an enclosed message is never transfer-encoded, but some
            // software base64s it anyway; decode rather than lose the Message-ID.
            let decoded = TransferDecoding.decode(body, encoding: headers["Content-Transfer-Encoding"]) ?? Array(body)
            enclosed = [try MIMEEntity(parsing: decoded[...], depth: depth + 1, defaultType: .plainText, headersOnly: true)]
        default:
            break
        }
    }

    /// The body with its Content-Transfer-Encoding undone.
    public func decodedBody() throws(BounceParseError) -> [UInt8] {
        guard let decoded = TransferDecoding.decode(body, encoding: headers["Content-Transfer-Encoding"]) else {
            throw .badTransferEncoding(contentType.mimeType)
        }
        return decoded
    }

    /// This entity and every entity inside it, depth first, not descending into enclosed
    /// messages (a returned message is the sender's, never part of the report).
    public var allParts: [MIMEEntity] {
        [self] + parts.flatMap(\.allParts)
    }

    /// Headers end at the first empty line (LF LF or CRLF CRLF); a message without one
    /// is all headers.
    static func splitHeaders(_ bytes: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        var index = bytes.startIndex
        // A part may begin with its blank line at once: no headers at all.
        if bytes.first == UInt8(ascii: "\n") { return (bytes[index..<index], bytes[(index + 1)...]) }
        if bytes.starts(with: [0x0D, 0x0A]) { return (bytes[index..<index], bytes[(index + 2)...]) }
        while index < bytes.endIndex {
            guard let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            var next = newline + 1
            if next < bytes.endIndex, bytes[next] == 0x0D { next += 1 }
            if next < bytes.endIndex, bytes[next] == UInt8(ascii: "\n") {
                return (bytes[bytes.startIndex..<newline], bytes[(next + 1)...])
            }
            if next == bytes.endIndex { break }
            index = newline + 1
        }
        return (bytes, bytes[bytes.endIndex...])
    }

    /// The parts between `--boundary` lines (RFC 2046 §5.1.1). The line break before a
    /// delimiter belongs to the delimiter; the preamble and the epilogue are dropped. A
    /// multipart cut off before its closing delimiter keeps the parts it has, since a
    /// truncated returned message must not cost the report in front of it.
    static func split(_ body: ArraySlice<UInt8>, boundary: [UInt8]) -> [ArraySlice<UInt8>] {
        let delimiter: [UInt8] = [UInt8(ascii: "-"), UInt8(ascii: "-")] + boundary
        var pieces: [ArraySlice<UInt8>] = []
        var partStart: Int?
        var lineStart = body.startIndex
        while lineStart < body.endIndex {
            let lineEnd = body[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? body.endIndex
            let line = body[lineStart..<lineEnd]
            if line.starts(with: delimiter) {
                let rest = line.dropFirst(delimiter.count)
                let closing = rest.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")])
                let tail = closing ? rest.dropFirst(2) : rest
                // Only transport padding may follow a delimiter on its line.
                if tail.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    if let start = partStart {
                        var end = lineStart
                        if end > start, body[end - 1] == UInt8(ascii: "\n") { end -= 1 }
                        if end > start, body[end - 1] == 0x0D { end -= 1 }
                        pieces.append(body[start..<max(start, end)])
                    }
                    if closing { return pieces }
                    partStart = lineEnd < body.endIndex ? lineEnd + 1 : body.endIndex
                }
            }
            lineStart = lineEnd < body.endIndex ? lineEnd + 1 : body.endIndex
        }
        if let start = partStart, start < body.endIndex { pieces.append(body[start...]) }
        return pieces
    }
}

/// Why a message that claims to be a report cannot be read. Carries no place: the
/// importer adds the file and message number.
public enum BounceParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case missingBoundary(String)
    case boundaryNotFound(String)
    case badTransferEncoding(String)
    case tooDeep
    case noDeliveryStatus
    case noRecipients
    case recipientWithoutAction(Int)
    case recipientWithoutStatus(Int)
    case recipientWithoutAddress(Int)
    case noFeedbackReport
    case feedbackWithoutType

    public var description: String {
        switch self {
        case .missingBoundary(let type): "\(type) without a boundary parameter"
        case .boundaryNotFound(let boundary): "no part delimited by boundary \"\(boundary)\""
        case .badTransferEncoding(let type): "\(type) part is not valid base64"
        case .tooDeep: "MIME parts nested more than \(MIMEEntity.maximumDepth) deep"
        case .noDeliveryStatus: "multipart/report of type delivery-status without a message/delivery-status part"
        case .noRecipients: "delivery-status part without any per-recipient fields"
        case .recipientWithoutAction(let n): "delivery-status recipient \(n) has no Action field"
        case .recipientWithoutStatus(let n): "delivery-status recipient \(n) has no Status field"
        case .recipientWithoutAddress(let n): "delivery-status recipient \(n) has no Final-Recipient field"
        case .noFeedbackReport: "multipart/report of type feedback-report without a message/feedback-report part"
        case .feedbackWithoutType: "feedback report without a Feedback-Type field"
        }
    }
}
