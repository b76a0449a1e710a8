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
            // The common case first: a run of printable bytes that need no encoding, in
            // a line with room for them, written in one copy. Everything else (line
            // breaks, bytes to encode, a line's first byte, the last columns before a
            // soft break) goes byte by byte below.
            if column > 0, column < maxLineLength - 1 {
                let run = literalRun(input, from: index, room: maxLineLength - 1 - column)
                if run > 0 {
                    output.append(contentsOf: input[index..<(index + run)])
                    column += run
                    index += run
                    continue
                }
            }
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
            var literal: Bool
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                literal = !atLineEnd
            case UInt8(ascii: "="):
                literal = false
            case 33...126:
                literal = column > 0 || !startsGuardedLine(input, at: index)
            default:
                literal = false
            }
            // Leave room for the soft-break "=" unless this is the line's last byte.
            let limit = atLineEnd ? maxLineLength : maxLineLength - 1
            if column + (literal ? 1 : 3) > limit {
                softBreak()
                // The byte now starts a line of its own.
                if literal, startsGuardedLine(input, at: index) { literal = false }
            }
            let width = literal ? 1 : 3
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

    /// A "." or "From " at the start of a line is encoded, so a message survives a
    /// careless relay that does not dot-stuff, and mbox delivery cannot turn "From " into
    /// ">From " and break the DKIM body hash.
    private static func startsGuardedLine(_ input: [UInt8], at index: Int) -> Bool {
        let byte = input[index]
        if byte == UInt8(ascii: ".") { return true }
        return byte == UInt8(ascii: "F") && index + 4 < input.count && input[index + 1] == UInt8(ascii: "r")
            && input[index + 2] == UInt8(ascii: "o") && input[index + 3] == UInt8(ascii: "m") && input[index + 4] == UInt8(ascii: " ")
    }

    /// How many bytes from `start` (at most `room`) are written as they are wherever they
    /// stand in a line but its first column: printable ASCII but "=", and blanks that are
    /// not the last byte before a line break.
    @inline(__always)
    private static func literalRun(_ input: [UInt8], from start: Int, room: Int) -> Int {
        let end = min(input.count, start + room)
        var index = start
        while index < end {
            let byte = input[index]
            if byte >= 33, byte <= 126, byte != UInt8(ascii: "=") {
                index += 1
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t"), index + 1 < input.count,
                      input[index + 1] != 13, input[index + 1] != 10 {
                index += 1
            } else {
                break
            }
        }
        return index - start
    }

    static func encode(_ input: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        encode(input, into: &output)
        return output
    }
}
