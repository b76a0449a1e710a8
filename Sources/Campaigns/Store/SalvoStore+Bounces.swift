import Foundation
import GRDB
import MailMessage
import MailReports

/// What recording one bounce message did.
public enum BounceRecording: Sendable, Equatable {
    /// Recorded now: its kind, and whether any recipient it reports on matched no delivery.
    case recorded(kind: BounceMessageKind, unmatched: Bool)
    /// Its bytes were recorded before: nothing changed.
    case alreadyProcessed
}

/// How a whole message is counted in the import's summary.
public enum BounceMessageKind: String, Sendable, Equatable {
    case hardBounce = "hard-bounce"
    case softBounce = "soft-bounce"
    case complaint
    case notBounce = "not-bounce"
}

/// The effects of bounces and complaints on the store. See `BounceMatcher` for how a
/// report finds its delivery.
///
/// - A hard bounce (Action `failed`, Status 5.x.x) makes a `sent` or `unknown` delivery
///   `bounced`, keeps the DSN's code, status and diagnostic as its last reply, logs an
///   attempt (outcome `bounced`, the Remote-MTA as host) without adding to the
///   delivery's attempt count (the DSN is the late answer to an attempt already
///   counted), and suppresses the address as `hard-bounce`. The suppression is global,
///   so an unmatched hard bounce with a valid Final-Recipient suppresses that address
///   too: the address is dead whoever mailed it.
/// - Action `failed` with a 4.x.x Status (an MTA gave up retrying) makes the delivery
///   `failed`, the state Salvo's own retries end in, and suppresses nobody: the
///   address may well work tomorrow.
/// - Action `delayed` (and `delivered`, `relayed`, `expanded`) is noted in
///   bounce_events and changes nothing else.
/// - A complaint suppresses the address as `complaint`; the delivery stays `sent`, and
///   the complaint is noted in bounce_events against it.
///
/// Each message is one transaction, its bounce_messages row included, so a crash
/// mid-import leaves every message either wholly applied or not at all.
extension SalvoStore {
    public func recordBounce(_ report: BounceReport, sha256: String, place: String, verp: VERPAddress?,
                             now: Date = Date(), recentWindow: TimeInterval = 30 * 86_400) throws -> BounceRecording {
        let matcher = BounceMatcher(verp: verp, recentWindow: recentWindow, now: now)
        let at = Self.seconds(now)
        return try writer.write { db in
            // A bounce may name a delivery whose outcome a running send has only logged.
            try applySendLog(in: db)
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bounce_messages WHERE sha256 = ?)", arguments: [sha256]) ?? false {
                return .alreadyProcessed
            }
            let kind: BounceMessageKind
            var events: [Event] = []
            var reporter: String?
            switch report.kind {
            case .notABounce:
                kind = .notBounce
            case .deliveryStatus(let dsn):
                reporter = dsn.reportingMTA
                let envelope = report.envelopeRecipients + [dsn.originalReturnPath].compactMap { $0 }
                let matches = try matcher.match(
                    recipients: dsn.recipients.map { [$0.finalRecipient] + [$0.originalRecipient].compactMap { $0 } },
                    envelope: envelope, messageID: dsn.originalMessageID, in: db)
                for (recipient, match) in zip(dsn.recipients, matches) {
                    events.append(Event(recipient: recipient, match: match))
                }
                kind = events.contains { $0.kind == "hard-bounce" } ? .hardBounce
                    : events.contains { ["soft-bounce", "delayed"].contains($0.kind) } ? .softBounce : .notBounce
            case .feedback(let feedback):
                reporter = feedback.reporter
                guard feedback.isComplaint else { kind = .notBounce; break }
                kind = .complaint
                let envelope = report.envelopeRecipients + [feedback.originalReturnPath, feedback.originalMailFrom].compactMap { $0 }
                var addresses = feedback.originalRecipients
                if addresses.isEmpty, feedback.originalTo.count == 1 { addresses = feedback.originalTo }
                let matches = try matcher.match(recipients: addresses.isEmpty ? [[]] : addresses.map { [$0] },
                                                envelope: envelope, messageID: feedback.originalMessageID, in: db)
                for (index, match) in matches.enumerated() {
                    let email = match?.email ?? (index < addresses.count ? addresses[index] : nil)
                    guard let email else { continue }  // redacted and unmatched: nobody to suppress
                    events.append(Event(email: email, kind: "complaint", status: feedback.feedbackType, match: match))
                }
                if events.isEmpty { events.append(Event(email: "", kind: "complaint", status: feedback.feedbackType, match: nil)) }
            }
            try db.execute(sql: """
                INSERT INTO bounce_messages (sha256, place, kind, reporter, processed_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [sha256, place, kind.rawValue, reporter, at])
            var bounced: [Int64] = []
            for event in events {
                try apply(event, messageSHA256: sha256, reporter: reporter, at: at, in: db)
                if event.kind == "hard-bounce", let match = event.match, ["sent", "unknown"].contains(match.state) {
                    bounced.append(match.deliveryID)
                }
            }
            if let reputationGuard { try reputationGuard.check(deliveryIDs: bounced, in: db) }
            let unmatched = events.contains { $0.match == nil && $0.kind != "delivered" }
            return .recorded(kind: kind, unmatched: kind != .notBounce && unmatched)
        }
    }

    /// One recipient's part of a report, with the delivery it matched.
    private struct Event {
        var email: String
        var kind: String
        var status: String?
        var diagnostic: String?
        var remoteMTA: String?
        var smtpCode: Int?
        var match: BounceMatcher.Match?

        init(email: String, kind: String, status: String?, match: BounceMatcher.Match?) {
            self.email = email
            self.kind = kind
            self.status = status
            self.match = match
        }

        init(recipient: DeliveryStatusNotification.RecipientStatus, match: BounceMatcher.Match?) {
            // The address Salvo mails is the delivery's, even when an alias rewrote the
            // Final-Recipient; without a match, the Final-Recipient is all there is.
            email = match?.email ?? recipient.finalRecipient
            switch (recipient.action, recipient.statusClass) {
            case (.failed, 5): kind = "hard-bounce"
            case (.failed, _): kind = "soft-bounce"
            case (.delayed, _): kind = "delayed"
            default: kind = "delivered"
            }
            status = recipient.status
            diagnostic = recipient.diagnosticCode
            remoteMTA = recipient.remoteMTA
            smtpCode = recipient.smtpCode
            self.match = match
        }
    }

    private func apply(_ event: Event, messageSHA256: String, reporter: String?, at: Int64, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO bounce_events (message_sha256, delivery_id, email, kind, status, diagnostic, remote_mta, matched_by, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [messageSHA256, event.match?.deliveryID, event.email, event.kind, event.status,
                             event.diagnostic, event.remoteMTA, event.match?.rule.rawValue, at])
        let from = reporter.map { " (reported by \($0))" } ?? ""
        switch event.kind {
        case "hard-bounce", "soft-bounce":
            if let match = event.match, ["sent", "unknown"].contains(match.state) {
                let state = event.kind == "hard-bounce" ? "bounced" : "failed"
                try db.execute(sql: """
                    UPDATE deliveries SET state = ?, last_code = ?, last_enhanced_code = ?, last_response = ?
                    WHERE id = ? AND state IN ('sent', 'unknown')
                    """, arguments: [state, event.smtpCode, event.status, event.diagnostic, match.deliveryID])
                try db.execute(sql: """
                    INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [match.deliveryID, at, state, event.smtpCode, event.status,
                                     event.diagnostic.map { $0 + from } ?? "delivery status notification\(from)", event.remoteMTA])
            }
            if event.kind == "hard-bounce", Self.isAddress(event.email) {
                let detail = [event.status, event.diagnostic].compactMap { $0 }.joined(separator: " ") + from
                try suppress(event.email, reason: .hardBounce, detail: detail, at: at, in: db)
            }
        case "complaint":
            if Self.isAddress(event.email) {
                try suppress(event.email, reason: .complaint, detail: "feedback report: \(event.status ?? "abuse")\(from)", at: at, in: db)
            }
        default:
            break
        }
    }

    private func suppress(_ email: String, reason: SuppressionReason, detail: String, at: Int64, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (email) DO NOTHING
            """, arguments: [email, reason.rawValue, detail, at])
    }

    private static func isAddress(_ text: String) -> Bool {
        (try? EmailAddress(text)) != nil
    }

    /// What the bounce import noted about a delivery, oldest first: the kinds of its events.
    public func bounceEvents(deliveryID: Int64) throws -> [String] {
        try writer.read { db in
            try String.fetchAll(db, sql: "SELECT kind FROM bounce_events WHERE delivery_id = ? ORDER BY id", arguments: [deliveryID])
        }
    }
}
