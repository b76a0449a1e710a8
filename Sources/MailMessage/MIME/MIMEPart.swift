/// One node of a message's MIME tree and how it is written.
enum MIMEPart {
    /// A leaf: its own header fields (name, value) and its encoded body.
    case leaf(headers: [(String, String)], body: [UInt8])
    case multipart(subtype: String, boundary: String, parts: [MIMEPart])

    /// A text part, 7bit when it is short-lined printable ASCII without "=",
    /// quoted-printable otherwise.
    static func text(_ text: String, subtype: String) -> MIMEPart {
        let bytes = Array(text.utf8)
        var body: [UInt8] = []
        let encoding: String
        if isPlain7bit(bytes) {
            encoding = "7bit"
            normaliseLineEndings(bytes, into: &body)
        } else {
            encoding = "quoted-printable"
            QuotedPrintable.encode(bytes, into: &body)
        }
        return .leaf(
            headers: [("Content-Type", "text/\(subtype); charset=utf-8"), ("Content-Transfer-Encoding", encoding)],
            body: body
        )
    }

    static func attachment(_ attachment: Attachment) -> MIMEPart {
        var body: [UInt8] = []
        Base64.encode(attachment.data, into: &body, lineLength: 76)
        let type = isMIMEType(attachment.contentType) ? attachment.contentType.lowercased() : "application/octet-stream"
        let filename = sanitisedFilename(attachment.filename)
        var contentType = type
        var disposition = "attachment"
        if filename.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }),
           filename.utf8.count <= 60 {
            contentType += "; name=\"\(filename)\""
            disposition += "; filename=\"\(filename)\""
        } else {
            disposition += rfc2231Parameter("filename", filename)
        }
        return .leaf(
            headers: [("Content-Type", contentType), ("Content-Disposition", disposition), ("Content-Transfer-Encoding", "base64")],
            body: body
        )
    }

    /// The fields that go in the enclosing header block (the message's, or the part's).
    var headers: [(String, String)] {
        switch self {
        case .leaf(let headers, _): headers
        case .multipart(let subtype, let boundary, _): [("Content-Type", "multipart/\(subtype);\r\n boundary=\"\(boundary)\"")]
        }
    }

    /// Writes the body; `isRoot` adds the customary preamble for readers that do not
    /// understand MIME (only the outermost multipart needs it).
    func writeBody(into output: inout [UInt8], isRoot: Bool = true) {
        switch self {
        case .leaf(_, let body):
            output.append(contentsOf: body)
            if body.last != 10 {
                output.append(13)
                output.append(10)
            }
        case .multipart(_, let boundary, let parts):
            if isRoot { output.append(contentsOf: "This is a multi-part message in MIME format.\r\n".utf8) }
            for part in parts {
                output.append(contentsOf: "\r\n--".utf8)
                output.append(contentsOf: boundary.utf8)
                output.append(13)
                output.append(10)
                for (name, value) in part.headers {
                    output.append(contentsOf: name.utf8)
                    output.append(contentsOf: ": ".utf8)
                    output.append(contentsOf: value.utf8)
                    output.append(13)
                    output.append(10)
                }
                output.append(13)
                output.append(10)
                part.writeBody(into: &output, isRoot: false)
                // The CRLF before the next delimiter belongs to the delimiter
                // (RFC 2046 §5.1.1); drop the one the leaf added.
                if output.count >= 2, output[output.count - 2] == 13, output[output.count - 1] == 10 {
                    output.removeLast(2)
                }
            }
            output.append(contentsOf: "\r\n--".utf8)
            output.append(contentsOf: boundary.utf8)
            output.append(contentsOf: "--\r\n".utf8)
        }
    }

    private static let from = Array("From ".utf8)

    private static func isPlain7bit(_ bytes: [UInt8]) -> Bool {
        var lineLength = 0
        var previous: UInt8 = 10
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case 10, 13:
                if previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t") { return false }
                lineLength = 0
            case UInt8(ascii: "="):
                return false
            case UInt8(ascii: "."), UInt8(ascii: "F"):
                // Lines starting "." or "From " go quoted-printable (see QuotedPrintable).
                if lineLength == 0, byte == UInt8(ascii: ".") || bytes[index...].starts(with: from) { return false }
                lineLength += 1
            case 9, 0x20...0x7E:
                lineLength += 1
            default:
                return false
            }
            if lineLength > QuotedPrintable.maxLineLength { return false }
            previous = byte
        }
        return previous != UInt8(ascii: " ") && previous != UInt8(ascii: "\t")
    }

    private static func normaliseLineEndings(_ bytes: [UInt8], into output: inout [UInt8]) {
        output.reserveCapacity(bytes.count + bytes.count / 32)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 13 || byte == 10 {
                output.append(13)
                output.append(10)
                index += (byte == 13 && index + 1 < bytes.count && bytes[index + 1] == 10) ? 2 : 1
            } else {
                output.append(byte)
                index += 1
            }
        }
    }

    private static func isMIMEType(_ type: String) -> Bool {
        let parts = type.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let tspecials = Set("()<>@,;:\\\"/[]?=".utf8)
        return parts.allSatisfy { part in
            !part.isEmpty && part.utf8.count <= 64 && part.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !tspecials.contains($0) }
        }
    }

    /// The last path component, controls replaced: a filename can never name a
    /// folder on the reader's machine, nor break the header it sits in.
    private static func sanitisedFilename(_ name: String) -> String {
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let cleaned = HeaderFolder.sanitised(last).trimmingASCIIWhitespace()
        return cleaned.isEmpty ? "attachment" : cleaned
    }

    /// `; name*0*=utf-8''…; name*1*=…` (RFC 2231): percent-encoded UTF-8 split into
    /// continuations so no line grows long.
    private static func rfc2231Parameter(_ name: String, _ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [[UInt8]] = []
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append([byte])
            default:
                encoded.append([UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        var sections: [String] = []
        var current: [UInt8] = Array("utf-8''".utf8)
        for unit in encoded {
            if current.count + unit.count > 50 {
                sections.append(String(decoding: current, as: UTF8.self))
                current = []
            }
            current += unit
        }
        sections.append(String(decoding: current, as: UTF8.self))
        if sections.count == 1 { return ";\r\n \(name)*=\(sections[0])" }
        return sections.enumerated().map { ";\r\n \(name)*\($0.offset)*=\($0.element)" }.joined()
    }
}
