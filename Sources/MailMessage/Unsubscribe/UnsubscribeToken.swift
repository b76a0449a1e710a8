import Foundation
import Crypto

/// A per-recipient unsubscribe token: the campaign and recipient, sealed under the
/// secret from `unsubscribe.secret_env`, URL-safe.
///
/// `2.SEALED`: the campaign and the address encrypted with AES-GCM, base64url without
/// padding. A link in a message is read by every scanner, proxy and log it passes, so
/// the token shows nothing of the address in any encoding; the GCM tag makes a forged,
/// altered or truncated token fail. The nonce is synthetic (an HMAC of what is sealed,
/// as in SIV): the same campaign and recipient always give the same token, so a message
/// composed again is byte for byte the same, and no two different plaintexts share one.
/// The token still carries what it vouches for, so the web endpoint that receives it
/// needs only the secret, not a lookup.
///
/// Tokens of the first form, `campaign.recipient.mac` (each base64url, the MAC an
/// HMAC-SHA256 cut to 128 bits), are in mail sent before; they keep verifying.
public enum UnsubscribeToken {
    static let macLength = 16
    static let nonceLength = 12
    static let tagLength = 16
    static let sealedPrefix = "2."

    public static func make(campaign: String, recipient: String, secret: some ContiguousBytes) -> String {
        Maker(campaign: campaign, secret: secret).make(recipient: recipient)
    }

    /// Makes the tokens of one campaign: the keys and the campaign's part are prepared
    /// once, not for every recipient.
    public struct Maker: Sendable {
        private let keys: SealingKeys
        private let campaignPart: [UInt8]

        public init(campaign: String, secret: some ContiguousBytes) {
            keys = SealingKeys(secret: secret)
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

    /// The two keys of the sealed form, each derived from the secret for its one use.
    struct SealingKeys: Sendable {
        let encryption: SymmetricKey
        /// The nonce key's HMAC with the key already absorbed: each seal copies it (the
        /// hash states are copied on write) rather than hashing the padded key twice more
        /// for every token of the send.
        let keyedNonceMAC: HMAC<SHA256>

        init(secret: some ContiguousBytes) {
            let material = SymmetricKey(data: secret)
            encryption = HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Array("salvo unsubscribe token v2: encryption".utf8), outputByteCount: 32)
            let nonce = HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Array("salvo unsubscribe token v2: nonce".utf8), outputByteCount: 32)
            keyedNonceMAC = HMAC<SHA256>(key: nonce)
        }

        func seal(_ plaintext: [UInt8]) -> [UInt8] {
            var mac = keyedNonceMAC
            // The bytes as one buffer, not through DataProtocol's regions.
            plaintext.withUnsafeBytes { mac.update(data: $0) }
            // A 12-byte nonce and a 32-byte key are always accepted: neither call can fail.
            let nonce = mac.finalize().withUnsafeBytes { try! AES.GCM.Nonce(data: $0.prefix(UnsubscribeToken.nonceLength)) }
            let box = try! AES.GCM.seal(plaintext, using: encryption, nonce: nonce)
            // Nonce, ciphertext and tag, in that order, as one buffer: the token's layout.
            // `combined` is there for every 12-byte nonce.
            return Array(box.combined!)
        }

        func open(_ sealed: [UInt8]) -> [UInt8]? {
            // The layout `seal` writes: GCM's combined nonce, ciphertext and tag.
            guard sealed.count > UnsubscribeToken.nonceLength + UnsubscribeToken.tagLength,
                  let box = try? AES.GCM.SealedBox(combined: sealed),
                  let plaintext = try? AES.GCM.open(box, using: encryption)
            else { return nil }
            return Array(plaintext)
        }
    }

    /// The campaign and recipient a token was made for, or nil when it was not made
    /// with `secret` (forged, altered or truncated). Both forms are read.
    public static func verify(_ token: String, secret: some ContiguousBytes) -> (campaign: String, recipient: String)? {
        if token.hasPrefix(sealedPrefix) { return verifySealed(token.dropFirst(sealedPrefix.count), secret: secret) }
        return verifyFirstForm(token, secret: secret)
    }

    /// True when `token` was made for this campaign and recipient under `secret`.
    public static func verify(_ token: String, campaign: String, recipient: String, secret: some ContiguousBytes) -> Bool {
        guard let found = verify(token, secret: secret) else { return false }
        return found.campaign == campaign && found.recipient == recipient
    }

    private static func verifySealed(_ text: Substring, secret: some ContiguousBytes) -> (campaign: String, recipient: String)? {
        // Only the one spelling `make` writes: base64 leaves spare bits in its last
        // character, and a token that differs there must not pass as the same one.
        guard let sealed = Base64.decode(text), Base64.encode(sealed, urlSafe: true, padding: false) == text,
              let plaintext = SealingKeys(secret: secret).open(sealed), plaintext.count >= 4
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
