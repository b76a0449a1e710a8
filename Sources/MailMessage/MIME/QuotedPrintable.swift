/// Quoted-printable (RFC 2045 §6.7) for text parts: every line at most 76 characters,
/// soft line breaks (`=` CRLF) inside long lines, `=` and every non-printable or 8-bit
/// byte as `=XX`, and whitespace before a line break encoded so no transport can strip
/// it. A "." or "From " starting a line is encoded too.
///
/// Input lines may end in CRLF, LF or CR; the output always uses CRLF.
enum QuotedPrintable {
    static let maxLineLength = 76
    private static let hex = Array("0123456789ABCDEF".utf8)

    static func encode(_ input: [UInt8], into output: inout [UInt8]) {
        output.reserveCapacity(output.count + input.count + input.count / 8)
        var column = 0
        var index = 0
        let count = input.count

        @inline(__always) func softBreak() {
            output.append(UInt8(ascii: "="))
            output.append(13)
            output.append(10)
            column = 0
        }

        while index < count {
            let byte = input[index]
            // A hard line break: CRLF, LF or lone CR.
            if byte == 13 || byte == 10 {
                output.append(13)
                output.append(10)
                column = 0
                index += (byte == 13 && index + 1 < count && input[index + 1] == 10) ? 2 : 1
                continue
            }
            let next: UInt8? = index + 1 < count ? input[index + 1] : nil
            let atLineEnd = next == nil || next == 13 || next == 10
            let literal: Bool
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                literal = !atLineEnd
            case UInt8(ascii: "="):
                literal = false
            case 33...126:
                // A leading "." is encoded so a message survives a careless relay that
                // does not dot-stuff, and a leading "From " so mbox delivery cannot turn
                // it into ">From " and break the DKIM body hash.
                if column == 0, byte == UInt8(ascii: ".") {
                    literal = false
                } else if column == 0, byte == UInt8(ascii: "F"), index + 4 < count,
                          input[index + 1] == UInt8(ascii: "r"), input[index + 2] == UInt8(ascii: "o"),
                          input[index + 3] == UInt8(ascii: "m"), input[index + 4] == UInt8(ascii: " ") {
                    literal = false
                } else {
                    literal = true
                }
            default:
                literal = false
            }
            let width = literal ? 1 : 3
            // Leave room for the soft-break "=" unless this is the line's last byte.
            let limit = atLineEnd ? maxLineLength : maxLineLength - 1
            if column + width > limit { softBreak() }
            if literal {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "="))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
            column += width
            index += 1
        }
    }

    static func encode(_ input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        encode(input, into: &output)
        return output
    }
}
