/// Turns a claimed delivery into the bytes to send. The campaign's templates, DKIM key
/// and unsubscribe secret live behind it (in `Campaigns`), so the engine knows nothing
/// of templates and the renderer nothing of SMTP.
public protocol MessageRenderer: Sendable {
    /// The message for `delivery`. `smtpUTF8` says whether the server takes UTF-8
    /// addresses, so an internationalised domain can be written as it is rather than in
    /// punycode.
    func render(_ delivery: ClaimedDelivery, smtpUTF8: Bool) throws -> RenderedMessage

    /// True when every delivery gets the same bytes from the same envelope sender
    /// (nothing in the message is the recipient's own): the engine then renders one
    /// message for up to `recipients_per_transaction` recipients of a site and sends it in
    /// one transaction with a RCPT each.
    var sharesMessages: Bool { get }

    /// The address for `delivery`'s RCPT TO, as `render` would write it.
    func envelopeRecipient(_ delivery: ClaimedDelivery, smtpUTF8: Bool) -> String
}

extension MessageRenderer {
    public var sharesMessages: Bool { false }

    public func envelopeRecipient(_ delivery: ClaimedDelivery, smtpUTF8: Bool) -> String { delivery.email }
}

/// One rendered message, ready for DATA.
public struct RenderedMessage: Sendable {
    /// The envelope sender (MAIL FROM).
    public var envelopeFrom: String
    /// The envelope recipient as the server should see it (punycode domain unless
    /// SMTPUTF8 is in use).
    public var envelopeTo: String
    public var messageID: String
    /// Headers and body, CRLF line ends, not dot-stuffed.
    public var bytes: [UInt8]

    public init(envelopeFrom: String, envelopeTo: String, messageID: String, bytes: [UInt8]) {
        self.envelopeFrom = envelopeFrom
        self.envelopeTo = envelopeTo
        self.messageID = messageID
        self.bytes = bytes
    }
}
