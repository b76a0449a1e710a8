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
        try recordBounce(BounceReading(report), sha256: sha256, place: place,
                         matcher: BounceMatcher(verp: verp, recentWindow: recentWindow, now: now))
    }

    public func recordBounce(_ reading: BounceReading, sha256: String, place: String, matcher: BounceMatcher) throws -> BounceRecording {
        let at = Self.seconds(matcher.now)
        return try writer.write { db in
            // A bounce may name a delivery whose outcome a running send has only logged.
            try applySendLog(in: db)
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bounce_messages WHERE sha256 = ?)", arguments: [sha256]) ?? false {
                return .alreadyProcessed
            }
            let events = reading.events(matches: try Self.match(reading, with: matcher, in: db))
            try db.execute(sql: """
                INSERT INTO bounce_messages (sha256, place, kind, reporter, processed_at) VALUES (?, ?, ?, ?, ?)
                """, arguments: [sha256, place, reading.kind(of: events).rawValue, reading.reporter, at])
            for event in events { try Self.apply(event, messageSHA256: sha256, at: at, in: db) }
            if let reputationGuard { try reputationGuard.check(deliveryIDs: events.compactMap(\.bouncedDelivery), in: db) }
            return reading.recording(of: events)
        }
    }

    /// Each recipient block's delivery, by `matcher`'s rules, looked up in `db`.
    private static func match(_ reading: BounceReading, with matcher: BounceMatcher, in db: Database) throws -> [BounceMatch?] {
        var verpMatch: BounceMatch?
        for id in matcher.verpIDs(in: reading.envelope) {
            if let row = try Row.fetchOne(db, sql: "SELECT email, state FROM deliveries WHERE id = ?", arguments: [id]) {
                verpMatch = BounceMatch(deliveryID: id, email: row["email"], state: row["state"], rule: .verp)
                break
            }
        }
        let byMessageID = try reading.messageID.map { messageID in
            try Row.fetchAll(db, sql: "SELECT id, email, state FROM deliveries WHERE message_id = ?", arguments: [messageID]).map {
                BounceMatch(deliveryID: $0["id"], email: $0["email"], state: $0["state"], rule: .messageID)
            }
        } ?? []
        let matched = matcher.firstPass(recipients: reading.recipients, verpMatch: verpMatch, byMessageID: byMessageID)
        var recent: [String: BounceMatch] = [:]
        // Without an index on email: this runs only for reports that carry neither a token
        // nor a known Message-ID, which are rare, and an index would slow every campaign
        // start for them.
        for address in matcher.recentLookups(recipients: reading.recipients, matched: matched) {
            recent[address] = try Row.fetchOne(db, sql: """
                SELECT id, email, state FROM deliveries
                WHERE email = ? COLLATE NOCASE AND state IN ('sent', 'unknown') AND last_attempt_at >= ?
                ORDER BY last_attempt_at DESC, id DESC LIMIT 1
                """, arguments: [address, matcher.recentSince]).map {
                BounceMatch(deliveryID: $0["id"], email: $0["email"], state: $0["state"], rule: .recipient)
            }
        }
        return matcher.finish(recipients: reading.recipients, matched: matched, recent: recent)
    }

    private static func apply(_ event: BounceEvent, messageSHA256: String, at: Int64, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO bounce_events (message_sha256, delivery_id, email, kind, status, diagnostic, remote_mta, matched_by, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [messageSHA256, event.match?.deliveryID, event.email, event.kind.rawValue, event.status,
                             event.diagnostic, event.remoteMTA, event.match?.rule.rawValue, at])
        if let change = event.deliveryChange {
            try db.execute(sql: """
                UPDATE deliveries SET state = ?, last_code = ?, last_enhanced_code = ?, last_response = ?
                WHERE id = ? AND state IN ('sent', 'unknown')
                """, arguments: [change.state, event.smtpCode, event.status, event.diagnostic, change.deliveryID])
            try db.execute(sql: """
                INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [change.deliveryID, at, change.state, event.smtpCode, event.status, change.response, event.remoteMTA])
        }
        if let suppression = event.suppression {
            try db.execute(sql: """
                INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (email) DO NOTHING
                """, arguments: [event.email, suppression.reason.rawValue, suppression.detail, at])
        }
    }

    /// What the bounce import noted about a delivery, oldest first: the kinds of its events.
    public func bounceEvents(deliveryID: Int64) throws -> [String] {
        try writer.read { db in
            try String.fetchAll(db, sql: "SELECT kind FROM bounce_events WHERE delivery_id = ? ORDER BY id", arguments: [deliveryID])
        }
    }
}
