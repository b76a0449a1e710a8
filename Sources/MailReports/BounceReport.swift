/// What one message in a bounce mailbox turned out to be.
public struct BounceReport: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case deliveryStatus(DeliveryStatusNotification)
        case feedback(FeedbackReport)
        /// Anything else: an auto-reply, a challenge, a person writing back. Counted and
        /// skipped, never an error.
        case notABounce
    }

    public var kind: Kind
    /// The envelope recipients of the report itself, from Delivered-To, X-Original-To,
    /// Envelope-To and To in that order: the return path it was sent to, which carries
    /// the VERP token.
    public var envelopeRecipients: [String]
    /// The report's own Subject, for messages shown to a user.
    public var subject: String?
    /// The address in the message's own From (nil without one): who wrote it, for a
    /// message that is not a report, such as a mail to the unsubscribe address.
    public var from: String?

    public init(kind: Kind, envelopeRecipients: [String], subject: String?, from: String? = nil) {
        self.kind = kind
        self.envelopeRecipients = envelopeRecipients
        self.subject = subject
        self.from = from
    }

    /// Reads a raw message (CRLF or LF line ends).
    ///
    /// The report is the first multipart/report of type delivery-status or
    /// feedback-report found in the message or its multipart parts, so a report
    /// forwarded inside multipart/mixed is found too; enclosed message/rfc822 messages
    /// are not searched, as they are the returned originals.
    ///
    /// - Throws: `BounceParseError` when a message declares a report but it cannot be
    ///   read (no boundary, no status part, a recipient without Action…). A message
    ///   that is not a report at all does not throw.
    public static func parse(_ bytes: [UInt8]) throws(BounceParseError) -> BounceReport {
        let message = try MIMEEntity(parsing: bytes)
        var envelope: [String] = []
        for name in ["Delivered-To", "X-Original-To", "Envelope-To", "To"] {
            for value in message.headers.all(name) {
                for address in ReportAddress.list(value) where !envelope.contains(address) { envelope.append(address) }
            }
        }
        let subject = message.headers["Subject"]
        let from = message.headers["From"].flatMap { ReportAddress.list($0).first }
        for part in message.allParts where part.contentType.mimeType == "multipart/report" {
            switch part.contentType.parameters["report-type"]?.lowercased() {
            case "delivery-status", "global-delivery-status":
                return BounceReport(kind: .deliveryStatus(try DeliveryStatusNotification(report: part)),
                                    envelopeRecipients: envelope, subject: subject, from: from)
            case "feedback-report":
                return BounceReport(kind: .feedback(try FeedbackReport(report: part)),
                                    envelopeRecipients: envelope, subject: subject, from: from)
            default:
                continue  // disposition-notification (read receipts) and others: not bounces
            }
        }
        return BounceReport(kind: .notABounce, envelopeRecipients: envelope, subject: subject, from: from)
    }
}
