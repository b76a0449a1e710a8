/// A complaint or other feedback about a message, in the Abuse Reporting Format
/// (RFC 5965): what a mailbox provider's feedback loop sends when a user marks a
/// message as spam.
public struct FeedbackReport: Sendable, Equatable {
    /// `Feedback-Type`, lower-cased: abuse, fraud, virus, other, not-spam, auth-failure.
    public var feedbackType: String
    /// `Original-Rcpt-To`: the recipients the complaint is about (usually one).
    public var originalRecipients: [String]
    /// `Original-Mail-From`: the envelope sender of the reported message.
    public var originalMailFrom: String?
    /// The reported message's Message-ID, from the attached message or headers.
    public var originalMessageID: String?
    /// The attached message's Return-Path, a VERP address when Salvo used one.
    public var originalReturnPath: String?
    /// The attached message's To, for a report that leaves out Original-Rcpt-To (RFC
    /// 5965 makes it optional; many providers redact it).
    public var originalTo: [String]
    /// `Reporting-MTA` or `User-Agent`: who reported.
    public var reporter: String?

    /// Whether the user complained: abuse, fraud, virus and other are complaints
    /// (RFC 5965 §7.3; `other` is what several providers send for "this is spam").
    /// `not-spam` (RFC 6430) and `auth-failure` (RFC 6591, a DMARC/DKIM failure report)
    /// are not about the recipient's wishes, so they suppress nobody.
    public var isComplaint: Bool { !["not-spam", "auth-failure"].contains(feedbackType) }
}

extension FeedbackReport {
    init(report: MIMEEntity) throws(BounceParseError) {
        guard let part = report.parts.first(where: { $0.contentType.mimeType == "message/feedback-report" }) else {
            throw .noFeedbackReport
        }
        let fields = HeaderBlock(parsing: try part.decodedBody()[...])
        guard let type = fields["Feedback-Type"]?.lowercased(), !type.isEmpty else { throw .feedbackWithoutType }
        feedbackType = type
        originalRecipients = fields.all("Original-Rcpt-To").compactMap(ReportAddress.bare)
        originalMailFrom = fields["Original-Mail-From"].flatMap(ReportAddress.bare)
        reporter = (fields["Reporting-MTA"].map(DeliveryStatusNotification.untyped)) ?? fields["User-Agent"]
        var messageID: String?, returnPath: String?, to: [String] = []
        for attached in report.parts {
            switch attached.contentType.mimeType {
            case "message/rfc822", "message/global":
                guard let headers = attached.enclosed.first?.headers else { continue }
                messageID = headers["Message-ID"].flatMap(ReportAddress.messageID)
                returnPath = headers["Return-Path"].flatMap(ReportAddress.bare)
                to = headers.all("To").flatMap(ReportAddress.list)
            case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
                guard let decoded = try? attached.decodedBody() else { continue }
                let headers = HeaderBlock(parsing: MIMEEntity.splitHeaders(decoded[...]).0)
                messageID = headers["Message-ID"].flatMap(ReportAddress.messageID)
                returnPath = headers["Return-Path"].flatMap(ReportAddress.bare)
                to = headers.all("To").flatMap(ReportAddress.list)
            default:
                continue
            }
            break
        }
        originalMessageID = messageID
        originalReturnPath = returnPath
        originalTo = to
    }
}
