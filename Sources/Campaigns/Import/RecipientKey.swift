import GRDB

/// What tells two recipients of a list apart: the address lower-cased, local part too.
///
/// RFC 5321 lets a server treat `Ann.Lee@` and `ann.lee@` as two mailboxes, but no
/// provider a list is sent to does, and a list that holds both mails one person twice.
/// So a list holds one recipient per address ignoring case, under the spelling met first
/// (`recipients.address_key`, unique per list). Letters beyond ASCII are lower-cased as
/// Swift's `lowercased()` does (`É` → `é`).
public enum RecipientKey {
    public static func of(_ email: String) -> String {
        email.utf8.allSatisfy({ $0 < 0x80 }) ? asciiLowercased(email) : email.lowercased()
    }

    /// Appends the key of `localPart@domain` to `bytes` (the importer's per-row path).
    static func append(localPart: String, domain: String, to bytes: inout [UInt8]) {
        append(localPart.utf8, to: &bytes)
        bytes.append(UInt8(ascii: "@"))
        append(domain.utf8, to: &bytes)
    }

    /// Appends the key of `email` (valid UTF-8) to `bytes`.
    static func append<Bytes: Collection<UInt8>>(_ email: Bytes, to bytes: inout [UInt8]) {
        if email.allSatisfy({ $0 < 0x80 }) {
            for byte in email {
                bytes.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
            }
        } else {
            bytes.append(contentsOf: String(decoding: Array(email), as: UTF8.self).lowercased().utf8)
        }
    }

    /// `salvo_address_key(email)`, for SQL that looks a recipient up by address.
    static let function = DatabaseFunction("salvo_address_key", argumentCount: 1, pure: true) { values in
        String.fromDatabaseValue(values[0]).map(of)
    }

    private static func asciiLowercased(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        append(text.utf8, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
