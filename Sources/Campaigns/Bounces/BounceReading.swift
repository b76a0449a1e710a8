import Foundation
import MailMessage
import MailReports

/// A parsed report as a store records it, the same for both stores: the recipient blocks
/// to match (`BounceMatcher`), and, once matched, one event per recipient with what it
/// changes (`BounceEvent`). The store does the looking up and the writing; what a
/// report means is decided here.
public struct BounceReading: Sendable {
    /// The Reporting-MTA of a DSN, the reporter of a feedback report.
    public var reporter: String?
    /// Each recipient block's addresses, the Final-Recipient first, to match a delivery.
    public var recipients: [[String]]
    /// The report's envelope recipients and the returned message's return paths, where a
    /// VERP token may be.
    public var envelope: [String]
    /// The returned message's Message-ID.
    public var messageID: String?
    private var content: Content

    private enum Content: Sendable {
        case notABounce
        case deliveryStatus([DeliveryStatusNotification.RecipientStatus])
        /// A complaint: its feedback type and the addresses it names (none when redacted).
        case complaint(feedbackType: String, addresses: [String])
    }

    public init(_ report: BounceReport) {
        switch report.kind {
        case .notABounce:
            self.init(reporter: nil, recipients: [], envelope: [], messageID: nil, content: .notABounce)
        case .deliveryStatus(let dsn):
            self.init(reporter: dsn.reportingMTA,
                      recipients: dsn.recipients.map { [$0.finalRecipient] + [$0.originalRecipient].compactMap { $0 } },
                      envelope: report.envelopeRecipients + [dsn.originalReturnPath].compactMap { $0 },
                      messageID: dsn.originalMessageID, content: .deliveryStatus(dsn.recipients))
        case .feedback(let feedback):
            guard feedback.isComplaint else {
                self.init(reporter: feedback.reporter, recipients: [], envelope: [], messageID: nil, content: .notABounce)
                return
            }
            var addresses = feedback.originalRecipients
            if addresses.isEmpty, feedback.originalTo.count == 1 { addresses = feedback.originalTo }
            // A redacted report still matches by its VERP token or Message-ID: one block
            // without an address.
            self.init(reporter: feedback.reporter, recipients: addresses.isEmpty ? [[]] : addresses.map { [$0] },
                      envelope: report.envelopeRecipients + [feedback.originalReturnPath, feedback.originalMailFrom].compactMap { $0 },
                      messageID: feedback.originalMessageID, content: .complaint(feedbackType: feedback.feedbackType, addresses: addresses))
        }
    }

    private init(reporter: String?, recipients: [[String]], envelope: [String], messageID: String?, content: Content) {
        self.reporter = reporter
        self.recipients = recipients
        self.envelope = envelope
        self.messageID = messageID
        self.content = content
    }

    /// The events of the report, given each recipient block's match (in `recipients`'
    /// order; nil where none was found).
    public func events(matches: [BounceMatch?]) -> [BounceEvent] {
        switch content {
        case .notABounce:
            return []
        case .deliveryStatus(let recipients):
            return zip(recipients, matches).map { BounceEvent(recipient: $0, match: $1, reporter: reporter) }
        case .complaint(let feedbackType, let addresses):
            var events: [BounceEvent] = []
            for (index, match) in matches.enumerated() {
                // Redacted and unmatched: nobody to suppress.
                guard let email = match?.email ?? (index < addresses.count ? addresses[index] : nil) else { continue }
                events.append(BounceEvent(email: email, kind: .complaint, status: feedbackType, match: match, reporter: reporter))
            }
            if events.isEmpty { events.append(BounceEvent(email: "", kind: .complaint, status: feedbackType, match: nil, reporter: reporter)) }
            return events
        }
    }

    /// How the whole message is counted.
    public func kind(of events: [BounceEvent]) -> BounceMessageKind {
        switch content {
        case .notABounce: .notBounce
        case .complaint: .complaint
        case .deliveryStatus:
            events.contains { $0.kind == .hardBounce } ? .hardBounce
                : events.contains { $0.kind == .softBounce || $0.kind == .delayed } ? .softBounce : .notBounce
        }
    }

    /// What recording the message did, for the import's counts.
    public func recording(of events: [BounceEvent]) -> BounceRecording {
        let kind = kind(of: events)
        let unmatched = events.contains { $0.match == nil && $0.kind != .delivered }
        return .recorded(kind: kind, unmatched: kind != .notBounce && unmatched)
    }
}

/// One recipient's part of a report, with the delivery it matched, and what it changes.
public struct BounceEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case hardBounce = "hard-bounce"
        case softBounce = "soft-bounce"
        case delayed
        case delivered
        case complaint
    }

    /// The address Salvo mailed (the delivery's, even when an alias rewrote the
    /// Final-Recipient); without a match, the report's own.
    public var email: String
    public var kind: Kind
    public var status: String?
    public var diagnostic: String?
    public var remoteMTA: String?
    public var smtpCode: Int?
    public var match: BounceMatch?
    /// " (reported by MTA)", or empty.
    private var from: String

    init(email: String, kind: Kind, status: String?, match: BounceMatch?, reporter: String?) {
        self.email = email
        self.kind = kind
        self.status = status
        self.match = match
        from = reporter.map { " (reported by \($0))" } ?? ""
    }

    init(recipient: DeliveryStatusNotification.RecipientStatus, match: BounceMatch?, reporter: String?) {
        let kind: Kind = switch (recipient.action, recipient.statusClass) {
        case (.failed, 5): .hardBounce
        case (.failed, _): .softBounce
        case (.delayed, _): .delayed
        default: .delivered
        }
        self.init(email: match?.email ?? recipient.finalRecipient, kind: kind, status: recipient.status, match: match, reporter: reporter)
        diagnostic = recipient.diagnosticCode
        remoteMTA = recipient.remoteMTA
        smtpCode = recipient.smtpCode
    }

    /// The change to the matched delivery: a hard bounce makes a `sent` or `unknown` one
    /// `bounced`, an MTA giving up (failed, 4.x.x) `failed`; with the attempt to log (its
    /// outcome, code, status, reply and host), which does not add to the attempt count.
    public var deliveryChange: (deliveryID: Int64, state: String, response: String)? {
        guard kind == .hardBounce || kind == .softBounce, let match, ["sent", "unknown"].contains(match.state) else { return nil }
        return (match.deliveryID, kind == .hardBounce ? "bounced" : "failed", diagnostic.map { $0 + from } ?? "delivery status notification\(from)")
    }

    /// The global suppression the event adds: a hard bounce's or a complaint's, for a
    /// valid address, matched or not (the address is dead, or asked, whoever mailed it).
    public var suppression: (reason: SuppressionReason, detail: String)? {
        guard (try? EmailAddress(email)) != nil else { return nil }
        switch kind {
        case .hardBounce: return (.hardBounce, [status, diagnostic].compactMap { $0 }.joined(separator: " ") + from)
        case .complaint: return (.complaint, "feedback report: \(status ?? "abuse")\(from)")
        default: return nil
        }
    }

    /// A hard bounce of a delivery that was sent: what the reputation guard counts.
    public var bouncedDelivery: Int64? {
        deliveryChange?.state == "bounced" ? match?.deliveryID : nil
    }
}
