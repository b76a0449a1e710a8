import Foundation

/// A Message-ID (RFC 5322 §3.6.4): the time in milliseconds and 80 random bits, in
/// base32, on the sending domain: `<2n4f…k.x7…q@shop.example>`. The randomness is a
/// parameter so tests are repeatable.
///
/// The time comes first, in an alphabet that sorts as it counts, so ids made one after
/// another sort one after another: the store indexes every message's id, and an id that
/// lands beside the last one costs one index page per commit instead of one per message.
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

    /// A fresh id on `domain` (give the ASCII form of an internationalised domain), made
    /// at `date`.
    public static func generate(domain: String, at date: Date = Date(), using generator: inout some RandomNumberGenerator) -> MessageID {
        let alphabet = Self.alphabet
        var left: [UInt8] = []
        left.reserveCapacity(27)
        // 50 bits of milliseconds: ten characters, good for a few thousand years.
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        for shift in stride(from: 45, through: 0, by: -5) {
            left.append(alphabet[Int((milliseconds >> UInt64(shift)) & 31)])
        }
        left.append(UInt8(ascii: "."))
        var word = generator.next()
        for index in 0..<16 {
            if index == 12 { word = generator.next() }
            left.append(alphabet[Int(word & 31)])
            word >>= 5
        }
        let safeDomain = domain.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: "@") })
            ? domain : "invalid"
        return MessageID(unchecked: String(decoding: left, as: UTF8.self) + "@" + safeDomain)
    }

    /// Digits before letters, as in ASCII: the time part sorts as it counts. Made once:
    /// every message of a send asks for an id.
    private static let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz".utf8)

    private init(unchecked value: String) { self.value = value }

    /// `<value>`, as written in the header.
    public var description: String { "<\(value)>" }
}
