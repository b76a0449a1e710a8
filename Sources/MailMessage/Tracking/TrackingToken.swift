import Crypto
import Foundation

/// The token of a tracked link (`/c/`), an open pixel (`/o/`) or a view-in-browser link
/// (`/v/`): the delivery it was made for, the link's position in that delivery's
/// message, and an HMAC under a key derived from the unsubscribe secret.
///
/// `3.` then base64url (no padding) of: one kind byte, the delivery id (8 bytes, big
/// endian), for a click the link's position (2 bytes), and a 16-byte HMAC-SHA256 over
/// all of that and, for a click, the SHA-256 of the link's target. The address is not in
/// it in any form, only the delivery's number in the store. Binding the target into the
/// MAC is what makes a tracked link no open redirect: the server finds the target again
/// from the delivery's own message and accepts the token only when the MAC matches it,
/// so neither an edited position nor a link that was never in that message passes.
public enum TrackingToken {
    public enum Kind: UInt8, Sendable {
        case click = 0x63  // "c"
        case open = 0x6F   // "o"
        case view = 0x76   // "v"
    }

    /// What a token names once its form is read; its MAC is checked by `verify`.
    public struct Claim: Sendable, Equatable {
        public let kind: Kind
        public let delivery: Int64
        /// The link's position in the message (0 for the first tracked link); 0 for an
        /// open or a view.
        public let position: Int

        public init(kind: Kind, delivery: Int64, position: Int) {
            self.kind = kind
            self.delivery = delivery
            self.position = position
        }
    }

    static let prefix = "3."
    static let macLength = 16

    /// Makes the tokens of any delivery: the key is derived and prepared once.
    public struct Maker: Sendable {
        private let mac: PreparedHMAC

        public init(secret: some ContiguousBytes) {
            mac = PreparedHMAC(key: HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret),
                                                           info: Array("salvo tracking token v3".utf8), outputByteCount: 32))
        }

        public func click(delivery: Int64, position: Int, target: String) -> String {
            encode(kind: .click, delivery: delivery, position: position, target: target)
        }

        public func open(delivery: Int64) -> String { encode(kind: .open, delivery: delivery, position: 0, target: nil) }

        public func view(delivery: Int64) -> String { encode(kind: .view, delivery: delivery, position: 0, target: nil) }

        /// The claim of `token` when it is of the one form `Maker` writes, of `kind`; its
        /// MAC is not checked yet (that needs the target for a click).
        public func read(_ token: String, kind: Kind) -> Claim? {
            guard token.hasPrefix(TrackingToken.prefix) else { return nil }
            let text = token.dropFirst(TrackingToken.prefix.count)
            // Only the spelling `encode` writes: base64's spare bits in the last character
            // must not make a second token for the same claim.
            guard let bytes = Base64.decode(text), Base64.encode(bytes, urlSafe: true, padding: false) == text else { return nil }
            let body = kind == .click ? 11 : 9
            guard bytes.count == body + TrackingToken.macLength, bytes[0] == kind.rawValue else { return nil }
            var delivery: UInt64 = 0
            for byte in bytes[1..<9] { delivery = delivery << 8 | UInt64(byte) }
            let position = kind == .click ? Int(bytes[9]) << 8 | Int(bytes[10]) : 0
            guard delivery <= UInt64(Int64.max) else { return nil }
            return Claim(kind: kind, delivery: Int64(delivery), position: position)
        }

        /// True when `token` is exactly the token `claim` (with `target` for a click)
        /// makes: compared in constant time.
        public func verify(_ token: String, claim: Claim, target: String?) -> Bool {
            let expected = encode(kind: claim.kind, delivery: claim.delivery, position: claim.position, target: target)
            let a = Array(expected.utf8), b = Array(token.utf8)
            guard a.count == b.count else { return false }
            var difference: UInt8 = 0
            for (x, y) in zip(a, b) { difference |= x ^ y }
            return difference == 0
        }

        private func encode(kind: Kind, delivery: Int64, position: Int, target: String?) -> String {
            var bytes: [UInt8] = [kind.rawValue]
            let id = UInt64(bitPattern: delivery)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
            if kind == .click {
                let position = UInt16(clamping: position)
                bytes += [UInt8(position >> 8), UInt8(position & 0xFF)]
            }
            let code = bytes.withUnsafeBytes { bytes in
                guard let target else { return mac.code(bytes) }
                var hash = SHA256()
                var utf8 = target
                utf8.withUTF8 { hash.update(bufferPointer: UnsafeRawBufferPointer($0)) }
                return hash.finalize().withUnsafeBytes { mac.code(bytes, $0) }
            }
            bytes += Array(code).prefix(TrackingToken.macLength)
            return TrackingToken.prefix + Base64.encode(bytes, urlSafe: true, padding: false)
        }
    }
}
