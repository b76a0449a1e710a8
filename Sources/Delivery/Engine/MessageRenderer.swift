/// Turns a claimed delivery into the bytes to send. The campaign's templates, DKIM key
/// and unsubscribe secret live behind it (in `Campaigns`), so the engine knows nothing
/// of templates and the renderer nothing of SMTP.
public protocol MessageRenderer: Sendable {
    /// The message for `delivery`. `smtpUTF8` says whether the server takes UTF-8
    /// addresses, so an internationalised domain can be written as it is rather than in
    /// punycode.
    func render(_ delivery: ClaimedDelivery, smtpUTF8: Bool) throws -> RenderedMessage
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
