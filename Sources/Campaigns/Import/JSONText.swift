import Foundation

/// The few JSON writing primitives the importer needs, on bytes: building attribute
/// objects by hand is several times faster than going through `JSONEncoder` per row.
enum JSONText {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `bytes` (valid UTF-8) as a quoted JSON string.
    static func appendString(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var ascii = true
        for byte in bytes where byte >= 0x80 { ascii = false; break }
        if ascii { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }
}

/// A list's known attribute names, stored as a JSON array.
enum JSONColumns {
    static func encode(_ columns: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(columns), as: UTF8.self)
    }

    static func decode(_ text: String?) -> [String] {
        guard let data = text?.data(using: .utf8) else { return [] }
        return (try? JSONDecoder().decode([String].self, from: data)) ?? []
    }
}
