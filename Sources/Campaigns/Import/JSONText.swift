import Foundation
import GRDB

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

/// `salvo_merge_attributes(old, new)`: the attribute array a re-imported recipient keeps.
/// Values of the new import win; a null in it (a column that file did not have) keeps
/// the old value.
enum AttributeMerge {
    static let function = DatabaseFunction("salvo_merge_attributes", argumentCount: 2, pure: true) { values in
        guard let old = String.fromDatabaseValue(values[0]), let new = String.fromDatabaseValue(values[1]) else {
            return String.fromDatabaseValue(values[1]) ?? String.fromDatabaseValue(values[0])
        }
        return merge(old, new)
    }

    static func merge(_ old: String, _ new: String) -> String {
        guard let oldValues = try? JSONDecoder().decode([String?].self, from: Data(old.utf8)),
              let newValues = try? JSONDecoder().decode([String?].self, from: Data(new.utf8)) else { return new }
        var merged = oldValues
        for (index, value) in newValues.enumerated() {
            if index < merged.count {
                if let value { merged[index] = value }
            } else {
                merged.append(value)
            }
        }
        return (try? String(decoding: JSONEncoder().encode(merged), as: UTF8.self)) ?? new
    }
}
