import Crypto
import Foundation

/// Variable envelope return paths: each message goes out with its own envelope sender,
/// `bounces+ID-TAG@domain`, so the bounce it may cause comes back addressed to the very
/// delivery it is about, whatever the remote MTA writes (or fails to write) in its DSN.
///
/// `ID` is the delivery's id in decimal; `TAG` is the first 8 bytes of
/// HMAC-SHA256(secret, "salvo-verp:" + ID) in lower-case hex, so nobody without the
/// secret can make an address that marks someone else's delivery as bounced (the
/// import checks the tag; a forged one matches nothing). Lower-case hex and digits
/// survive MTAs that fold the case of local parts; 64 bits keep the address short and
/// are still beyond guessing.
public struct VERPAddress: Sendable {
    /// The local part before the `+`: `bounces`.
    public var localPart: String
    /// The domain bounces come back to. Its MX must deliver to the mailbox that
    /// `salvo bounces import` reads, with `+` as the recipient delimiter.
    public var domain: String
    private let secret: [UInt8]

    static let tagLength = 8

    public init(localPart: String = "bounces", domain: String, secret: [UInt8]) {
        self.localPart = localPart
        self.domain = domain
        self.secret = secret
    }

    /// Only the secret: enough to read tokens back, whatever local part and domain they
    /// were sent with.
    public init(secret: [UInt8]) {
        self.init(domain: "", secret: secret)
    }

    /// `bounces+123-0f1e2d3c4b5a6978@domain`.
    public func address(for deliveryID: Int64) -> String {
        "\(localPart)+\(token(for: deliveryID))@\(domain)"
    }

    public func token(for deliveryID: Int64) -> String {
        "\(deliveryID)-\(Self.hex(tag(for: deliveryID)))"
    }

    /// The delivery id an address's token names, or nil when the address has no token or
    /// its tag was not made with this secret.
    public func deliveryID(in address: String) -> Int64? {
        guard let at = address.lastIndex(of: "@"), let plus = address[..<at].lastIndex(of: "+") else { return nil }
        let token = address[address.index(after: plus)..<at].lowercased()
        let pieces = token.split(separator: "-")
        guard pieces.count == 2, let id = Int64(pieces[0]), id > 0, String(id) == pieces[0],
              pieces[1].count == Self.tagLength * 2, let given = Self.bytes(hex: pieces[1]) else { return nil }
        let expected = tag(for: id)
        // Constant time: every byte is compared whatever the first difference.
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        return difference == 0 ? id : nil
    }

    private func tag(for deliveryID: Int64) -> [UInt8] {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("salvo-verp:\(deliveryID)".utf8), using: SymmetricKey(data: secret))
        return Array(Array(mac).prefix(Self.tagLength))
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]] }
        return String(decoding: text, as: UTF8.self)
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        var result: [UInt8] = []
        var high: UInt8?
        for character in hex.utf8 {
            let value: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = character - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high { result.append(h << 4 | value); high = nil } else { high = value }
        }
        return high == nil ? result : nil
    }
}
