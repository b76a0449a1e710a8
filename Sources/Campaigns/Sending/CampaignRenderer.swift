import Delivery
import Foundation
import MailMessage

/// Renders a campaign's message for each claimed delivery: the `MessageRenderer` the
/// delivery engine calls, over the campaign's `MessageComposer` (templates parsed once).
public struct CampaignRenderer: MessageRenderer {
    public let composer: MessageComposer
    /// The envelope sender: the campaign's From address.
    public let envelopeFrom: String

    public init(composer: MessageComposer) {
        self.composer = composer
        self.envelopeFrom = composer.settings.from.address
    }

    public func render(_ delivery: ClaimedDelivery, smtpUTF8: Bool) throws -> RenderedMessage {
        var generator = SystemRandomNumberGenerator()
        let recipient = TemplateRecipient(email: delivery.email, attributes: delivery.attributes, id: String(delivery.id))
        let message = try composer.compose(for: recipient, date: Date(), options: SerializationOptions(smtputf8: smtpUTF8), using: &generator)
        return RenderedMessage(envelopeFrom: Self.envelope(envelopeFrom, smtpUTF8: smtpUTF8),
                               envelopeTo: Self.envelope(delivery.email, smtpUTF8: smtpUTF8),
                               messageID: message.messageID.value, bytes: message.bytes)
    }

    /// A campaign with a fixed `to:` has one message for everybody.
    public var sharesMessages: Bool { composer.settings.sharedTo != nil }

    public func envelopeRecipient(_ delivery: ClaimedDelivery, smtpUTF8: Bool) -> String {
        Self.envelope(delivery.email, smtpUTF8: smtpUTF8)
    }

    /// An address for MAIL FROM / RCPT TO: its domain in punycode unless the server takes
    /// UTF-8 (RFC 6531).
    static func envelope(_ address: String, smtpUTF8: Bool) -> String {
        guard !smtpUTF8, let at = address.lastIndex(of: "@") else { return address }
        let domain = String(address[address.index(after: at)...])
        guard domain.utf8.contains(where: { $0 >= 0x80 }), let ascii = try? Punycode.toASCII(domain: domain) else { return address }
        return address[..<at] + "@" + ascii
    }
}
