import NIOCore

/// One mail transaction: the envelope (RFC 5321 §2.3.1) and the message bytes.
///
/// The message is the rendered RFC 5322 message (headers and body) as it should arrive;
/// `SMTPConnection` converts line ends to CRLF and dot-stuffs it on the way out. A
/// `ByteBuffer` is shared, not copied, so the same rendered bytes can go to several
/// transactions.
public struct SMTPTransaction: Sendable {
    /// The reverse path; empty for a null sender (`MAIL FROM:<>`), as bounces use.
    public var mailFrom: String
    public var recipients: [String]
    public var message: ByteBuffer
    /// Announce `BODY=8BITMIME` when the server offers 8BITMIME. Set it when the message
    /// has 8-bit content; it is harmless for 7-bit messages.
    public var eightBitMIME: Bool
    /// Announce `SMTPUTF8` (RFC 6531) when the envelope or headers hold UTF-8 addresses.
    public var smtpUTF8: Bool

    public init(mailFrom: String, recipients: [String], message: ByteBuffer, eightBitMIME: Bool = true, smtpUTF8: Bool = false) {
        self.mailFrom = mailFrom
        self.recipients = recipients
        self.message = message
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
    }

    public init(mailFrom: String, recipients: [String], message: [UInt8], eightBitMIME: Bool = true, smtpUTF8: Bool = false) {
        self.init(mailFrom: mailFrom, recipients: recipients, message: ByteBuffer(bytes: message),
                  eightBitMIME: eightBitMIME, smtpUTF8: smtpUTF8)
    }
}

/// How one reply left a command or a recipient.
public enum SMTPReplyStatus: Sendable, Hashable {
    case accepted
    /// 4xx, or the server went away (421): try again later.
    case temporaryFailure
    /// 5xx: do not try again as is.
    case permanentFailure

    init(_ reply: SMTPReply) {
        if reply.isPositiveCompletion || reply.isIntermediate {
            self = .accepted
        } else if reply.isPermanentFailure {
            self = .permanentFailure
        } else {
            self = .temporaryFailure
        }
    }
}

/// What happened to one recipient of a transaction.
public struct SMTPRecipientOutcome: Sendable, Hashable {
    public var recipient: String
    /// The final word for this recipient: the MAIL reply if MAIL failed, the RCPT reply
    /// if RCPT failed, otherwise the reply to DATA or to the end of the message.
    public var status: SMTPReplyStatus
    /// The reply that decided `status`; its code, enhanced code and text go in reports.
    public var reply: SMTPReply
    /// The reply to this recipient's RCPT, nil if it never came (MAIL failed, or 421).
    public var rcptReply: SMTPReply?
}

/// The result of `SMTPConnection.send(_:)`: one outcome per recipient, in envelope order,
/// and the replies of the transaction's commands.
public struct SMTPTransactionResult: Sendable, Hashable {
    public var recipients: [SMTPRecipientOutcome]
    public var mailReply: SMTPReply
    /// The reply to DATA when it was refused, otherwise the reply after the message.
    /// Nil when DATA was never sent (no recipient accepted, or MAIL failed).
    public var dataReply: SMTPReply?
    /// True when the server accepted the message for at least one recipient.
    public var messageAccepted: Bool { recipients.contains { $0.status == .accepted } }
}
