/// Base64 (RFC 4648) on bytes: the MIME transfer encoding with CRLF every 76
/// characters, the unwrapped form for encoded-words and DKIM, and the URL-safe form.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Appends the base64 of `input` to `output`, with `CRLF` after every `lineLength`
    /// characters (and after the last line) when `lineLength` is given.
    static func encode<Bytes: Collection<UInt8>>(
        _ input: Bytes, into output: inout [UInt8], lineLength: Int? = nil, urlSafe: Bool = false, padding: Bool = true
    ) {
        let table = urlSafe ? urlAlphabet : alphabet
        output.reserveCapacity(output.count + (input.count + 2) / 3 * 4 + (lineLength.map { input.count / $0 * 3 + 2 } ?? 0))
        var column = 0
        func put(_ byte: UInt8) {
            output.append(byte)
            if let lineLength {
                column += 1
                if column == lineLength {
                    output.append(13); output.append(10)
                    column = 0
                }
            }
        }
        var iterator = input.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            put(table[Int(b0 >> 2)])
            put(table[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            if let b1 {
                put(table[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)])
            } else if padding {
                put(UInt8(ascii: "="))
            }
            if let b2 {
                put(table[Int(b2 & 0x3F)])
            } else if padding {
                put(UInt8(ascii: "="))
            }
            if b2 == nil { break }
        }
        if lineLength != nil, column > 0 {
            output.append(13); output.append(10)
        }
    }

    static func encode<Bytes: Collection<UInt8>>(_ input: Bytes, urlSafe: Bool = false, padding: Bool = true) -> String {
        var output: [UInt8] = []
        encode(input, into: &output, urlSafe: urlSafe, padding: padding)
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes standard or URL-safe base64, padded or not; nil on any other character.
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): value = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        return output
    }
}
