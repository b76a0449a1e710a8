import Foundation
import Crypto

/// A per-recipient unsubscribe token: the campaign and recipient, and an HMAC-SHA256
/// of both under the secret from `unsubscribe.secret_env`, all URL-safe base64.
///
/// `campaign.recipient.mac`, each part base64url without padding. The MAC is cut to
/// 128 bits, which keeps links short and is still beyond guessing. The token carries
/// what it vouches for, so the web endpoint that receives it needs only the secret.
public enum UnsubscribeToken {
    static let macLength = 16

    public static func make(campaign: String, recipient: String, secret: some ContiguousBytes) -> String {
        Maker(campaign: campaign, secret: secret).make(recipient: recipient)
    }

    /// Makes the tokens of one campaign: the key and the campaign's part are prepared
    /// once, not for every recipient.
    public struct Maker: Sendable {
        private let keyed: HMAC<SHA256>
        private let campaignPart: String

        public init(campaign: String, secret: some ContiguousBytes) {
            var keyed = HMAC<SHA256>(key: SymmetricKey(data: secret))
            let campaign = Array(campaign.utf8)
            keyed.update(data: UnsubscribeToken.lengthPrefixed(campaign))
            self.keyed = keyed
            campaignPart = Base64.encode(campaign, urlSafe: true, padding: false)
        }

        public func make(recipient: String) -> String {
            let recipient = Array(recipient.utf8)
            return campaignPart + "." + Base64.encode(recipient, urlSafe: true, padding: false) + "."
                + Base64.encode(mac(recipient: recipient), urlSafe: true, padding: false)
        }

        /// The MAC of this campaign and `recipient`, cut to `macLength` bytes.
        func mac(recipient: [UInt8]) -> [UInt8] {
            var hmac = keyed
            hmac.update(data: UnsubscribeToken.lengthPrefixed(recipient))
            return Array(Array(hmac.finalize()).prefix(macLength))
        }
    }

    /// The campaign and recipient a token was made for, or nil when it was not made
    /// with `secret` (forged, altered or truncated).
    public static func verify(_ token: String, secret: some ContiguousBytes) -> (campaign: String, recipient: String)? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let campaignBytes = Base64.decode(parts[0]),
              let recipientBytes = Base64.decode(parts[1]),
              let mac = Base64.decode(parts[2]), mac.count == macLength,
              let campaign = String(validating: campaignBytes, as: UTF8.self),
              let recipient = String(validating: recipientBytes, as: UTF8.self)
        else { return nil }
        let expected = Maker(campaign: campaign, secret: secret).mac(recipient: recipientBytes)
        // Constant time: every byte is compared whatever the first difference.
        var difference: UInt8 = 0
        for (a, b) in zip(mac, expected) { difference |= a ^ b }
        return difference == 0 ? (campaign, recipient) : nil
    }

    /// True when `token` was made for this campaign and recipient under `secret`.
    public static func verify(_ token: String, campaign: String, recipient: String, secret: some ContiguousBytes) -> Bool {
        guard let found = verify(token, secret: secret) else { return false }
        return found.campaign == campaign && found.recipient == recipient
    }

    /// Each part goes into the MAC after its length, so ("ab", "c") and ("a", "bc")
    /// never share one.
    static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        let count = UInt32(bytes.count)
        return [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)] + bytes
    }
}
