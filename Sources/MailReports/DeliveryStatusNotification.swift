/// A delivery status notification (RFC 3464): what an MTA says happened to one or more
/// recipients of a message it could not deliver, or delivered late.
public struct DeliveryStatusNotification: Sendable, Equatable {
    /// `Reporting-MTA`, without its `dns;` type.
    public var reportingMTA: String?
    public var recipients: [RecipientStatus]
    /// The Message-ID of the returned message (or of its returned headers), angle
    /// brackets kept: how a DSN is matched to a delivery when no VERP address is at hand.
    public var originalMessageID: String?
    /// The returned message's Return-Path: its envelope sender, a VERP address when
    /// Salvo sent it with one.
    public var originalReturnPath: String?

    public struct RecipientStatus: Sendable, Equatable {
        /// `Final-Recipient`: the address the reporting MTA tried.
        public var finalRecipient: String
        /// `Original-Recipient`: the address as Salvo gave it, when the MTA kept it.
        public var originalRecipient: String?
        public var action: Action
        /// `Status`: the enhanced code (RFC 3463), such as `5.1.1`.
        public var status: String
        /// `Diagnostic-Code` without its `smtp;` type: the remote server's reply.
        public var diagnosticCode: String?
        /// `Remote-MTA`, without its `dns;` type.
        public var remoteMTA: String?

        /// The basic SMTP code at the start of the diagnostic (`550 5.1.1 …` → 550).
        public var smtpCode: Int? {
            guard let diagnosticCode else { return nil }
            let digits = diagnosticCode.prefix { $0.isNumber }
            guard digits.count == 3, let code = Int(digits), (200..<600).contains(code) else { return nil }
            return code
        }

        /// The status class: 2 success, 4 persistent transient failure, 5 permanent.
        public var statusClass: Int? { status.first?.wholeNumberValue }

        /// A permanent failure: the address is dead, so it is suppressed.
        public var isHardBounce: Bool { action == .failed && statusClass == 5 }
    }

    /// RFC 3464 §2.3.3.
    public enum Action: String, Sendable, Equatable {
        case failed, delayed, delivered, relayed, expanded
    }
}

extension DeliveryStatusNotification {
    /// Reads the report from a multipart/report of type delivery-status: the
    /// message/delivery-status part (RFC 6533's message/global-delivery-status too) and
    /// the returned message or headers for their Message-ID.
    init(report: MIMEEntity) throws(BounceParseError) {
        guard let statusPart = report.parts.first(where: {
            $0.contentType.type == "message" && ["delivery-status", "global-delivery-status"].contains($0.contentType.subtype)
        }) else { throw .noDeliveryStatus }
        let blocks = Self.fieldBlocks(try statusPart.decodedBody())
        guard blocks.count >= 2 else { throw .noRecipients }
        reportingMTA = blocks[0]["Reporting-MTA"].map(Self.untyped)
        recipients = []
        for (index, block) in blocks.dropFirst().enumerated() {
            let number = index + 1
            guard let final = block["Final-Recipient"].flatMap(ReportAddress.typed)
                    ?? block["Original-Recipient"].flatMap(ReportAddress.typed) else {
                throw .recipientWithoutAddress(number)
            }
            guard let actionText = block["Action"] else { throw .recipientWithoutAction(number) }
            guard let status = block["Status"].map(Self.statusCode), !status.isEmpty else { throw .recipientWithoutStatus(number) }
            // Unknown actions (a few MTAs write "failure") are read by their status class.
            let word = actionText.lowercased().split(separator: " ").first.map(String.init) ?? ""
            let action = Action(rawValue: word) ?? (status.hasPrefix("5") ? .failed : status.hasPrefix("4") ? .delayed : .delivered)
            recipients.append(RecipientStatus(
                finalRecipient: final, originalRecipient: block["Original-Recipient"].flatMap(ReportAddress.typed),
                action: action, status: status, diagnosticCode: block["Diagnostic-Code"].map(Self.untyped),
                remoteMTA: block["Remote-MTA"].map(Self.untyped)))
        }
        let returned = ReturnedMessage(report: report)
        originalMessageID = returned?.messageID
        originalReturnPath = returned?.returnPath
    }

    /// The groups of fields of a delivery-status body, split at blank lines; the first is
    /// per message, each later one per recipient. Runs of blank lines count as one.
    static func fieldBlocks(_ bytes: [UInt8]) -> [HeaderBlock] {
        var blocks: [HeaderBlock] = []
        var start: Int?
        var lineStart = 0
        func close(at end: Int) {
            if let begin = start {
                let block = HeaderBlock(parsing: bytes[begin..<end])
                if !block.fields.isEmpty { blocks.append(block) }
            }
            start = nil
        }
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let blank = bytes[lineStart..<lineEnd].allSatisfy { $0 == 0x0D || $0 == 0x20 || $0 == 0x09 }
            if blank { close(at: lineStart) } else if start == nil { start = lineStart }
            lineStart = lineEnd + 1
        }
        close(at: bytes.count)
        return blocks
    }

    /// `dns; mx.example.com` → `mx.example.com`; `smtp; 550 …` → `550 …`.
    static func untyped(_ value: String) -> String {
        guard let semicolon = value.firstIndex(of: ";") else { return value }
        return String(value[value.index(after: semicolon)...]).trimmingASCIISpaces()
    }

    /// `5.1.1 (bad mailbox)` → `5.1.1`: comments are allowed after the code.
    static func statusCode(_ value: String) -> String {
        String(value.prefix { $0.isNumber || $0 == "." })
    }
}

/// The message a report returns (message/rfc822) or its headers (text/rfc822-headers,
/// RFC 6533's message/global-headers): where the original Message-ID and envelope sender
/// are read.
struct ReturnedMessage {
    var messageID: String?
    var returnPath: String?

    init?(report: MIMEEntity) {
        for part in report.parts {
            let headers: HeaderBlock
            switch part.contentType.mimeType {
            case "message/rfc822", "message/global":
                guard let message = part.enclosed.first else { continue }
                headers = message.headers
            case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
                guard let decoded = try? part.decodedBody() else { continue }
                headers = HeaderBlock(parsing: MIMEEntity.splitHeaders(decoded[...]).0)
            default:
                continue
            }
            messageID = headers["Message-ID"].flatMap(ReportAddress.messageID)
            returnPath = headers["Return-Path"].flatMap(ReportAddress.bare)
            return
        }
        return nil
    }
}
