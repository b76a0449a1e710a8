import Delivery

/// A short plain message per recipient, for the tests that run whole engine passes on a
/// store (the in-memory one, PostgreSQL) without Campaigns' templates.
public struct PlainMessageRenderer: MessageRenderer {
    public init() {}

    public func render(_ delivery: ClaimedDelivery, smtpUTF8: Bool) throws -> RenderedMessage {
        let id = "<\(delivery.id)@salvo.test>"
        let text = "From: news@salvo.test\r\nTo: \(delivery.email)\r\nSubject: hello \(delivery.id)\r\n"
            + "Message-ID: \(id)\r\n\r\nHello.\r\n"
        return RenderedMessage(envelopeFrom: "bounces@salvo.test", envelopeTo: delivery.email, messageID: id,
                               bytes: Array(text.utf8))
    }
}
