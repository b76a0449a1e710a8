import Delivery
import Foundation
import MailMessage

/// Renders a campaign's message for each claimed delivery: the `MessageRenderer` the
/// delivery engine calls, over the campaign's `MessageComposer` (templates parsed once).
public struct CampaignRenderer: MessageRenderer {
    public let composer: MessageComposer
    /// The envelope sender without VERP: the campaign's From address.
    public let envelopeFrom: String
    /// When set, each message's envelope sender is its own VERP address, so a bounce
    /// names its delivery; the From header stays the campaign's.
    public let verp: VERPAddress?

    public init(composer: MessageComposer, verp: VERPAddress? = nil) {
        self.composer = composer
        self.envelopeFrom = composer.settings.from.address
        self.verp = verp
    }

    public func render(_ delivery: ClaimedDelivery, smtpUTF8: Bool) throws -> RenderedMessage {
        var generator = SystemRandomNumberGenerator()
        let recipient = TemplateRecipient(email: delivery.email, attributes: delivery.attributes, id: String(delivery.id), delivery: delivery.id)
        let message = try composer.compose(for: recipient, date: Date(), options: SerializationOptions(smtputf8: smtpUTF8), using: &generator)
        let sender = verp?.address(for: delivery.id) ?? envelopeFrom
        return RenderedMessage(envelopeFrom: Self.envelope(sender, smtpUTF8: smtpUTF8),
                               envelopeTo: Self.envelope(delivery.email, smtpUTF8: smtpUTF8),
                               messageID: message.messageID.value, bytes: message.bytes)
    }

    /// A campaign with a fixed `to:` has one message for everybody, unless VERP gives
    /// every recipient an envelope sender of its own.
    public var sharesMessages: Bool { composer.settings.sharedTo != nil && verp == nil }

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
