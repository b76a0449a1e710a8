/// A Message-ID (RFC 5322 §3.6.4): 128 random bits in base32 on the sending domain,
/// `<k3x…q@shop.example>`. The randomness is a parameter so tests are repeatable.
public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    /// The text between the angle brackets.
    public let value: String

    /// Wraps an existing id; it must be `left@right` with no whitespace, control
    /// characters or angle brackets.
    public init?(_ value: String) {
        guard value.contains("@"),
              value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") })
        else { return nil }
        self.value = value
    }

    /// A fresh id on `domain` (give the ASCII form of an internationalised domain).
    public static func generate(domain: String, using generator: inout some RandomNumberGenerator) -> MessageID {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        var left: [UInt8] = []
        left.reserveCapacity(26)
        for _ in 0..<2 {
            var word = generator.next()
            for _ in 0..<13 {
                left.append(alphabet[Int(word & 31)])
                word >>= 5
            }
        }
        let safeDomain = domain.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: "@") })
            ? domain : "invalid"
        return MessageID(unchecked: String(decoding: left, as: UTF8.self) + "@" + safeDomain)
    }

    private init(unchecked value: String) { self.value = value }

    /// `<value>`, as written in the header.
    public var description: String { "<\(value)>" }
}
