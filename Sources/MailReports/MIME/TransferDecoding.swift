/// Undoes a part's Content-Transfer-Encoding (RFC 2045 §6). Reports and returned
/// headers are usually 7bit, but some MTAs base64-encode the whole delivery-status part
/// and feedback providers quoted-printable their text, so both are decoded before the
/// fields are read.
enum TransferDecoding {
    /// Nil when `encoding` is base64 and the data is not.
    static func decode(_ body: ArraySlice<UInt8>, encoding: String?) -> [UInt8]? {
        switch encoding?.lowercased().trimmingASCIISpaces() {
        case "base64": base64(body)
        case "quoted-printable": quotedPrintable(body)
        default: Array(body)  // 7bit, 8bit, binary, or an unknown token: taken as is
        }
    }

    /// Ignores line breaks and other white space (RFC 2045 §6.8); refuses other stray
    /// characters rather than guessing.
    static func base64(_ body: ArraySlice<UInt8>) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(body.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for byte in body {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): padding += 1; continue
            case 0x20, 0x09, 0x0D, 0x0A: continue
            default: return nil
            }
            if padding > 0 { return nil }  // data after the padding
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return output
    }

    /// Soft line breaks (`=` at the end of a line) join lines; `=XX` is a byte; a
    /// malformed escape is kept as written, as RFC 2045 §6.7 advises a decoder to do.
    static func quotedPrintable(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(body.count)
        var index = body.startIndex
        while index < body.endIndex {
            let byte = body[index]
            guard byte == UInt8(ascii: "=") else { output.append(byte); index += 1; continue }
            var next = index + 1
            // "=" then optional trailing white space then a line break: a soft break.
            while next < body.endIndex, body[next] == 0x20 || body[next] == 0x09 { next += 1 }
            if next < body.endIndex, body[next] == 0x0D || body[next] == 0x0A {
                if body[next] == 0x0D, next + 1 < body.endIndex, body[next + 1] == 0x0A { next += 1 }
                index = next + 1
                continue
            }
            if next == body.endIndex { index = next; continue }
            if index + 2 < body.endIndex, let high = hex(body[index + 1]), let low = hex(body[index + 2]) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte)
                index += 1
            }
        }
        return output
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
