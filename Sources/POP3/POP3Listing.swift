/// One line of a UIDL listing: the message number in this session and its unique id,
/// which stays the same for the message across sessions (RFC 1939 §7).
public struct POP3UniqueID: Sendable, Hashable {
    public var number: Int
    public var uid: String

    public init(number: Int, uid: String) {
        self.number = number
        self.uid = uid
    }

    /// `1 000000016b06efbb`; the id is 1 to 70 characters from 0x21 to 0x7E.
    init?(line: [UInt8]) {
        guard let (number, rest) = POP3Listing.numberAndRest(line),
              (1...70).contains(rest.count), rest.allSatisfy({ (0x21...0x7E).contains($0) })
        else { return nil }
        self.init(number: number, uid: String(decoding: rest, as: UTF8.self))
    }
}

/// One line of a LIST listing: the message number and its size in octets as the server
/// counts them (with CRLF line ends, before dot-stuffing).
public struct POP3MessageSize: Sendable, Hashable {
    public var number: Int
    public var octets: Int

    public init(number: Int, octets: Int) {
        self.number = number
        self.octets = octets
    }

    init?(line: [UInt8]) {
        guard let (number, rest) = POP3Listing.numberAndRest(line),
              let octets = POP3Listing.number(rest.prefix { $0 != UInt8(ascii: " ") })
        else { return nil }
        self.init(number: number, octets: octets)
    }
}

enum POP3Listing {
    /// A positive decimal number, a single space, then the rest of the line.
    static func numberAndRest(_ line: [UInt8]) -> (Int, ArraySlice<UInt8>)? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")), let number = number(line[..<space]), number > 0 else { return nil }
        return (number, line[(space + 1)...])
    }

    static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        guard (1...18).contains(digits.count), digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
