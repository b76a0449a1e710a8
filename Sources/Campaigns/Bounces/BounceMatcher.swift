import Foundation
import GRDB

/// Finds the delivery a report is about. In order, the first rule that finds one wins:
///
/// 1. **VERP**: an envelope recipient of the report (Delivered-To, X-Original-To,
///    Envelope-To, To), or the Return-Path / Original-Mail-From of the message it
///    returns, holds a `bounces+ID-TAG@…` token whose HMAC tag checks out. Exact: the
///    remote MTA cannot get it wrong, and a forged tag matches nothing.
/// 2. **Message-ID**: the returned message's Message-ID is a delivery's `message_id`
///    (Salvo gives each recipient's message its own), and the DSN's Final-Recipient or
///    Original-Recipient is that delivery's address. One delivery and one recipient
///    block match even when the addresses differ (a forwarding alias rewrote it).
/// 3. **Recipient alone**: the most recently attempted delivery to that address that
///    is `sent` or `unknown`, attempted within `recentWindow` (30 days by default):
///    a DSN about an older message than that is more likely about mail Salvo did not send.
///
/// Addresses compare case-insensitively, as the suppression list does.
struct BounceMatcher {
    var verp: VERPAddress?
    var recentWindow: TimeInterval
    var now: Date

    enum Rule: String { case verp, messageID = "message-id", recipient }

    struct Match {
        var deliveryID: Int64
        var email: String
        var state: String
        var rule: Rule
    }

    /// The delivery a VERP token among `addresses` names, if it exists.
    func verpDelivery(among addresses: [String], in db: Database) throws -> Match? {
        guard let verp else { return nil }
        for address in addresses {
            guard let id = verp.deliveryID(in: address) else { continue }
            if let row = try Row.fetchOne(db, sql: "SELECT email, state FROM deliveries WHERE id = ?", arguments: [id]) {
                return Match(deliveryID: id, email: row["email"], state: row["state"], rule: .verp)
            }
        }
        return nil
    }

    /// Deliveries whose message had this Message-ID (normally one).
    func messageIDDeliveries(_ messageID: String?, in db: Database) throws -> [Match] {
        guard let messageID else { return [] }
        return try Row.fetchAll(db, sql: "SELECT id, email, state FROM deliveries WHERE message_id = ?",
                                arguments: [messageID]).map {
            Match(deliveryID: $0["id"], email: $0["email"], state: $0["state"], rule: .messageID)
        }
    }

    /// Rule 3. Reads the deliveries table without an index on email: it runs only for
    /// reports that carry neither a token nor a known Message-ID, which are rare, and an
    /// index would slow every campaign start for them.
    func recentDelivery(to address: String, in db: Database) throws -> Match? {
        let since = SalvoStore.seconds(now.addingTimeInterval(-recentWindow))
        return try Row.fetchOne(db, sql: """
            SELECT id, email, state FROM deliveries
            WHERE email = ? COLLATE NOCASE AND state IN ('sent', 'unknown') AND last_attempt_at >= ?
            ORDER BY last_attempt_at DESC, id DESC LIMIT 1
            """, arguments: [address, since]).map {
            Match(deliveryID: $0["id"], email: $0["email"], state: $0["state"], rule: .recipient)
        }
    }

    /// Pairs each of `addresses` (one per recipient block, each with its alternatives)
    /// with a delivery, by the three rules in order.
    func match(recipients: [[String]], envelope: [String], messageID: String?, in db: Database) throws -> [Match?] {
        var result = [Match?](repeating: nil, count: recipients.count)
        func same(_ a: String, _ b: String) -> Bool { a.caseInsensitiveCompare(b) == .orderedSame }
        if let verp = try verpDelivery(among: envelope, in: db) {
            // One token names one delivery: the block about its address, or the only block.
            if let index = recipients.firstIndex(where: { $0.contains { same($0, verp.email) } }) {
                result[index] = verp
            } else if recipients.count == 1 {
                result[0] = verp
            }
        }
        let byMessageID = try messageIDDeliveries(messageID, in: db)
        for index in recipients.indices where result[index] == nil {
            if let match = byMessageID.first(where: { delivery in recipients[index].contains { same($0, delivery.email) } }) {
                result[index] = match
            } else if byMessageID.count == 1, recipients.count == 1 {
                result[index] = byMessageID[0]
            }
        }
        for index in recipients.indices where result[index] == nil {
            for address in recipients[index] {
                if let match = try recentDelivery(to: address, in: db) {
                    result[index] = match
                    break
                }
            }
        }
        return result
    }
}
