import Foundation

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
///
/// The rules are pure; a store answers the three look-ups they need, in two rounds
/// (`BounceMatching`), so rule 3, which reads deliveries by address, runs only for the
/// recipients the first two left unmatched.
public struct BounceMatcher: Sendable {
    public var verp: VERPAddress?
    public var recentWindow: TimeInterval
    public var now: Date

    public init(verp: VERPAddress?, recentWindow: TimeInterval = 30 * 86_400, now: Date) {
        self.verp = verp
        self.recentWindow = recentWindow
        self.now = now
    }

    /// Rule 3 looks no further back than this (seconds since 1970).
    public var recentSince: Int64 { Int64(now.addingTimeInterval(-recentWindow).timeIntervalSince1970.rounded(.down)) }

    /// The delivery ids the VERP tokens among `envelope` name, in order: the first that
    /// exists is rule 1's.
    public func verpIDs(in envelope: [String]) -> [Int64] {
        guard let verp else { return [] }
        return envelope.compactMap { verp.deliveryID(in: $0) }
    }

    /// Rules 1 and 2 for each of `recipients` (one block per recipient, each with its
    /// alternative addresses): `verpMatch` is the delivery rule 1 found, `byMessageID`
    /// the deliveries whose message had the returned Message-ID.
    public func firstPass(recipients: [[String]], verpMatch: BounceMatch?, byMessageID: [BounceMatch]) -> [BounceMatch?] {
        var result = [BounceMatch?](repeating: nil, count: recipients.count)
        if let verpMatch {
            // One token names one delivery: the block about its address, or the only block.
            if let index = recipients.firstIndex(where: { $0.contains { Self.same($0, verpMatch.email) } }) {
                result[index] = verpMatch
            } else if recipients.count == 1 {
                result[0] = verpMatch
            }
        }
        for index in recipients.indices where result[index] == nil {
            if let match = byMessageID.first(where: { delivery in recipients[index].contains { Self.same($0, delivery.email) } }) {
                result[index] = match
            } else if byMessageID.count == 1, recipients.count == 1 {
                result[index] = byMessageID[0]
            }
        }
        return result
    }

    /// The addresses rule 3 must look up: those of the blocks still unmatched.
    public func recentLookups(recipients: [[String]], matched: [BounceMatch?]) -> [String] {
        recipients.indices.filter { matched[$0] == nil }.flatMap { recipients[$0] }
    }

    /// Rule 3 for the blocks still unmatched: the first of a block's addresses with a
    /// recent delivery (`recent`, as the store found it for each looked-up address).
    public func finish(recipients: [[String]], matched: [BounceMatch?], recent: [String: BounceMatch]) -> [BounceMatch?] {
        var result = matched
        for index in recipients.indices where result[index] == nil {
            result[index] = recipients[index].lazy.compactMap { recent[$0] }.first
        }
        return result
    }

    static func same(_ a: String, _ b: String) -> Bool { a.caseInsensitiveCompare(b) == .orderedSame }
}

/// A delivery a report matched, and by which rule.
public struct BounceMatch: Sendable, Equatable {
    public enum Rule: String, Sendable { case verp, messageID = "message-id", recipient }

    public var deliveryID: Int64
    public var email: String
    public var state: String
    public var rule: Rule

    public init(deliveryID: Int64, email: String, state: String, rule: Rule) {
        self.deliveryID = deliveryID
        self.email = email
        self.state = state
        self.rule = rule
    }
}
