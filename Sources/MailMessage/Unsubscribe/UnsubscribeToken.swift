import Foundation
import Crypto

/// A per-recipient unsubscribe token: the campaign and recipient, sealed under the
/// secret from `unsubscribe.secret_env`, URL-safe.
///
/// `4.SEALED`: base64url without padding of a 16-byte synthetic IV and the ciphertext.
/// A link in a message is read by every scanner, proxy and log it passes, so the token
/// shows nothing of the address in any encoding. The construction is SIV (deterministic
/// authenticated encryption, as RFC 5297 builds it) with HMAC-SHA256 as its one
/// primitive: the IV is the HMAC of the plaintext under one key, cut to 128 bits, and the
/// plaintext is XORed with a keystream of HMACs of the IV and a block counter under a
/// second key. Opening runs the keystream again and checks that the plaintext's HMAC is
/// the IV, so a forged, altered or truncated token fails. The same campaign and recipient
/// always give the same token, so a message composed again is byte for byte the same,
/// and two plaintexts share a keystream only if their 128-bit MACs do. The token still
/// carries what it vouches for, so the web endpoint that receives it needs only the
/// secret, not a lookup.
///
/// Mail sent before holds two older forms, and both keep verifying: `2.SEALED` (the same
/// plaintext under AES-256-GCM with an HMAC nonce, which cost a send several times the
/// CPU of the HMACs alone), and `campaign.recipient.mac` (each base64url, the MAC an
/// HMAC-SHA256 cut to 128 bits, the address readable in it).
public enum UnsubscribeToken {
    static let macLength = 16
    static let sealedPrefix = "4."
    static let gcmPrefix = "2."

    public static func make(campaign: String, recipient: String, secret: some ContiguousBytes) -> String {
        Maker(campaign: campaign, secret: secret).make(recipient: recipient)
    }

    /// Makes the tokens of one campaign: the keys and the campaign's part are prepared
    /// once, not for every recipient.
    public struct Maker: Sendable {
        private let keys: SIVKeys
        private let campaignPart: [UInt8]

        public init(campaign: String, secret: some ContiguousBytes) {
            keys = SIVKeys(secret: secret)
            campaignPart = UnsubscribeToken.lengthPrefixed(Array(campaign.utf8))
        }

        public func make(recipient: String) -> String {
            var plaintext = campaignPart
            plaintext.append(contentsOf: recipient.utf8)
            // The prefix and the base64 written into one buffer, made a string once.
            var token = Array(UnsubscribeToken.sealedPrefix.utf8)
            Base64.encode(keys.seal(plaintext), into: &token, urlSafe: true, padding: false)
            return String(decoding: token, as: UTF8.self)
        }
    }

    /// The two keys of the `4.` form, each derived from the secret for its one use.
    struct SIVKeys: Sendable {
        static let ivLength = 16
        /// Makes the IV: the MAC of the plaintext.
        let mac: PreparedHMAC
        /// Makes the keystream from the IV.
        let stream: PreparedHMAC

        init(secret: some ContiguousBytes) {
            let material = SymmetricKey(data: secret)
            mac = PreparedHMAC(key: HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Array("salvo unsubscribe token v4: mac".utf8), outputByteCount: 32))
            stream = PreparedHMAC(key: HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Array("salvo unsubscribe token v4: stream".utf8), outputByteCount: 32))
        }

        /// The IV, then the ciphertext: the token's layout.
        func seal(_ plaintext: [UInt8]) -> [UInt8] {
            var sealed = [UInt8]()
            sealed.reserveCapacity(Self.ivLength + plaintext.count)
            plaintext.withUnsafeBytes { mac.code($0) }.withUnsafeBytes { sealed.append(contentsOf: $0.prefix(Self.ivLength)) }
            sealed.append(contentsOf: plaintext)
            applyStream(to: &sealed)
            return sealed
        }

        func open(_ sealed: [UInt8]) -> [UInt8]? {
            guard sealed.count > Self.ivLength else { return nil }
            var opened = sealed
            applyStream(to: &opened)
            let plaintext = Array(opened[Self.ivLength...])
            let expected = plaintext.withUnsafeBytes { mac.code($0) }
            // Constant time: every byte is compared whatever the first difference.
            var difference: UInt8 = 0
            expected.withUnsafeBytes { expected in
                for index in 0..<Self.ivLength { difference |= expected[index] ^ sealed[index] }
            }
            return difference == 0 ? plaintext : nil
        }

        /// XORs the bytes after the IV with the keystream: block `i` is the HMAC of the IV
        /// and `i` as four big-endian bytes, 32 bytes a block. Sealing and opening are the
        /// same operation.
        private func applyStream(to bytes: inout [UInt8]) {
            bytes.withUnsafeMutableBytes { bytes in
                let iv = UnsafeRawBufferPointer(rebasing: bytes[..<Self.ivLength])
                var offset = Self.ivLength
                var counter: UInt32 = 0
                while offset < bytes.count {
                    var block = counter.bigEndian
                    let keystream = withUnsafeBytes(of: &block) { stream.code(iv, $0) }
                    keystream.withUnsafeBytes { keystream in
                        for index in 0..<min(keystream.count, bytes.count - offset) { bytes[offset + index] ^= keystream[index] }
                    }
                    offset += SHA256Digest.byteCount
                    counter += 1
                }
            }
        }
    }

    /// The key of the `2.` form: its tokens are opened, no longer made.
    struct GCMKey: Sendable {
        static let nonceLength = 12
        static let tagLength = 16
        let encryption: SymmetricKey

        init(secret: some ContiguousBytes) {
            encryption = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), info: Array("salvo unsubscribe token v2: encryption".utf8), outputByteCount: 32)
        }

        func open(_ sealed: [UInt8]) -> [UInt8]? {
            // GCM's combined layout: nonce, ciphertext and tag.
            guard sealed.count > Self.nonceLength + Self.tagLength,
                  let box = try? AES.GCM.SealedBox(combined: sealed),
                  let plaintext = try? AES.GCM.open(box, using: encryption)
            else { return nil }
            return Array(plaintext)
        }
    }

    /// The campaign and recipient a token was made for, or nil when it was not made
    /// with `secret` (forged, altered or truncated). Every form is read.
    public static func verify(_ token: String, secret: some ContiguousBytes) -> (campaign: String, recipient: String)? {
        if token.hasPrefix(sealedPrefix) {
            return opened(token.dropFirst(sealedPrefix.count)) { SIVKeys(secret: secret).open($0) }
        }
        if token.hasPrefix(gcmPrefix) {
            return opened(token.dropFirst(gcmPrefix.count)) { GCMKey(secret: secret).open($0) }
        }
        return verifyFirstForm(token, secret: secret)
    }

    /// True when `token` was made for this campaign and recipient under `secret`.
    public static func verify(_ token: String, campaign: String, recipient: String, secret: some ContiguousBytes) -> Bool {
        guard let found = verify(token, secret: secret) else { return false }
        return found.campaign == campaign && found.recipient == recipient
    }

    /// The campaign and recipient in a sealed token's text, opened by `open`.
    private static func opened(_ text: Substring, by open: ([UInt8]) -> [UInt8]?) -> (campaign: String, recipient: String)? {
        // Only the one spelling `make` writes: base64 leaves spare bits in its last
        // character, and a token that differs there must not pass as the same one.
        guard let sealed = Base64.decode(text), Base64.encode(sealed, urlSafe: true, padding: false) == text,
              let plaintext = open(sealed), plaintext.count >= 4
        else { return nil }
        let length = Int(plaintext[0]) << 24 | Int(plaintext[1]) << 16 | Int(plaintext[2]) << 8 | Int(plaintext[3])
        guard plaintext.count >= 4 + length,
              let campaign = String(validating: plaintext[4..<(4 + length)], as: UTF8.self),
              let recipient = String(validating: plaintext[(4 + length)...], as: UTF8.self)
        else { return nil }
        return (campaign, recipient)
    }

    /// `campaign.recipient.mac`, the form of tokens in mail sent before the sealed one.
    private static func verifyFirstForm(_ token: String, secret: some ContiguousBytes) -> (campaign: String, recipient: String)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let campaignBytes = Base64.decode(parts[0]),
              let recipientBytes = Base64.decode(parts[1]),
              let mac = Base64.decode(parts[2]), mac.count == macLength,
              let campaign = String(validating: campaignBytes, as: UTF8.self),
              let recipient = String(validating: recipientBytes, as: UTF8.self)
        else { return nil }
        let expected = firstFormMAC(campaign: Array(campaign.utf8), recipient: recipientBytes, secret: secret)
        // Constant time: every byte is compared whatever the first difference.
        var difference: UInt8 = 0
        for (a, b) in zip(mac, expected) { difference |= a ^ b }
        return difference == 0 ? (campaign, recipient) : nil
    }

    /// The first form's MAC: HMAC-SHA256 of the length-prefixed campaign and recipient,
    /// cut to `macLength` bytes.
    static func firstFormMAC(campaign: [UInt8], recipient: [UInt8], secret: some ContiguousBytes) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: secret))
        hmac.update(data: lengthPrefixed(campaign))
        hmac.update(data: lengthPrefixed(recipient))
        return Array(Array(hmac.finalize()).prefix(macLength))
    }

    /// Each part goes into the MAC after its length, so ("ab", "c") and ("a", "bc")
    /// never share one.
    static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        return [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)] + bytes
    }
}
