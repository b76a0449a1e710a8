import SMTP

/// Where one attempt leaves a recipient: the delivery state the store records.
public enum DeliveryDisposition: String, Sendable, Hashable, CaseIterable {
    case sent
    /// Temporary: the retry policy sets the next attempt.
    case deferred
    /// Permanent: not tried again.
    case bounced
    /// The message may or may not have arrived (connection lost after the end of DATA,
    /// RFC 1047): never re-sent silently.
    case unknown

    public var state: DeliveryState {
        switch self {
        case .sent: .sent
        case .deferred: .deferred
        case .bounced: .bounced
        case .unknown: .unknown
        }
    }
}

/// What an SMTP reply, or a failure to get one, means for a recipient and for the site
/// that sent it: the disposition (sent, deferred, bounced), whether the site is asking us
/// to slow down, and whether the address itself is bad and belongs on the suppression
/// list.
///
/// The basic reply code decides the disposition (RFC 5321 §4.2.1: 2yz done, 4yz
/// transient, 5yz permanent); the RFC 3463 enhanced code and, failing that, the text
/// refine the why. When the two disagree (`550 4.2.2`), the basic code wins, because it
/// is the one RFC 5321 obliges every server to send.
///
/// Choices, with their grounds:
/// - Suppressed (the address is bad, sending again cannot help): `5.1.1` bad destination
///   mailbox, `5.1.2` bad destination system, `5.1.3` bad destination address syntax,
///   `5.1.6` mailbox has moved, `5.1.10` recipient domain has a null MX (RFC 7505 §4.3),
///   `5.2.1` mailbox disabled (RFC 3463 §3.3); a DNS NXDOMAIN and a null MX
///   for the recipient domain. A `550`/`5.0.0` with no better code suppresses only when
///   its text plainly says the user does not exist ("user unknown", "no such user", …).
/// - Bounced but not suppressed: `5.2.2` mailbox full — RFC 3463 §3.3 calls X.2.2 useful
///   "for both permanent and persistent transient errors"; a full mailbox is often
///   emptied, so the address stays sendable for the next campaign. `5.7.x` security and
///   policy (spam, reputation, authentication, DMARC): the sender is the problem, not
///   the address. `5.3.x`, `5.4.x`, `5.5.x`, `5.6.x`: system, routing, protocol and
///   content failures.
/// - `552` to RCPT with "too many recipients" (or `x.5.3`) is deferred, not bounced:
///   RFC 5321 §4.5.3.1.10 says 552 there was RFC 821's mistake and a client SHOULD treat
///   it as temporary; `isRecipientLimit` tells the engine to send the rest of the
///   envelope in another transaction.
/// - A 5xx greeting or EHLO refusal defers (the site refuses the session, not the
///   address — often an IP block), as Postfix's default `smtp_skip_5xx_greeting = yes`
///   does; so do TLS and AUTH failures, which a configuration fix cures.
public struct ReplyClassification: Sendable, Hashable {
    public var disposition: DeliveryDisposition
    /// The site asks us to slow down: 421, a 4xx with enhanced code 4.7.x or 4.4.5
    /// (congestion), or a 4xx whose text says rate / too many / throttl… / try again
    /// later. Feeds `AdaptiveBackoff`. Never set for a mailbox-level reply (X.1.x,
    /// X.2.x: one recipient's state, not the site's load) nor for greylisting.
    public var isThrottleSignal: Bool
    /// The address is bad: add it to the suppression list (a hard bounce).
    public var suppressesAddress: Bool
    /// The server took fewer recipients than offered in one transaction ("452 4.5.3 too
    /// many recipients"): send the rest in the next transaction, do not slow down.
    public var isRecipientLimit: Bool
    public var reason: Reason

    /// Why, in one word a report can group by.
    public enum Reason: String, Sendable, Hashable {
        case accepted
        /// X.1.x, X.2.1, user-unknown text: the address does not work.
        case badAddress
        /// X.2.2: the mailbox is over quota.
        case mailboxFull
        /// X.7.x: security or policy (spam, reputation, authentication).
        case policy
        /// The site asks us to slow down.
        case throttled
        /// X.5.3 or "too many recipients".
        case tooManyRecipients
        /// A greylisting server wants the same message again later.
        case greylisted
        /// Another 4xx.
        case transient
        /// Another 5xx.
        case permanent
        /// No reply: connection refused, timed out, dropped, TLS or protocol failure.
        case connection
        /// The recipient domain does not exist, or has no address to deliver to.
        case noSuchDomain
        /// The recipient domain publishes a null MX (RFC 7505): it accepts no mail.
        case nullMX
        /// A DNS lookup failed for now (SERVFAIL, timeout).
        case dnsTemporary
        /// The connection was lost after the message was sent, before its reply.
        case inDoubt
    }

    /// Which command the reply answered; it matters for 552 (§4.5.3.1.10) and for
    /// suppression, which only a reply about the recipient can justify.
    public enum Stage: Sendable, Hashable {
        /// Greeting, EHLO, STARTTLS, AUTH: about the session, never about an address.
        case session
        /// MAIL FROM: about the sender.
        case mail
        case recipient
        /// DATA or the end of the message.
        case data
    }

    public init(disposition: DeliveryDisposition, isThrottleSignal: Bool = false, suppressesAddress: Bool = false,
                isRecipientLimit: Bool = false, reason: Reason) {
        self.disposition = disposition
        self.isThrottleSignal = isThrottleSignal
        self.suppressesAddress = suppressesAddress
        self.isRecipientLimit = isRecipientLimit
        self.reason = reason
    }

    // MARK: - Replies

    /// Classifies a reply to `stage` (by default the recipient's deciding reply, as
    /// `SMTPRecipientOutcome.reply` carries it).
    public init(reply: SMTPReply, stage: Stage = .recipient) {
        let enhanced = reply.enhancedCode
        let text = reply.text.lowercased()

        if reply.isPositiveCompletion || reply.isIntermediate {
            self.init(disposition: .sent, reason: .accepted)
            return
        }

        let recipientLimit = Self.saysTooManyRecipients(enhanced: enhanced, text: text)
        if recipientLimit, stage == .recipient || stage == .mail || reply.isTransientFailure {
            // 452, or 552 per RFC 5321 §4.5.3.1.10: temporary, and not a load signal.
            self.init(disposition: .deferred, isRecipientLimit: true, reason: .tooManyRecipients)
            return
        }

        if reply.isTransientFailure {
            if Self.isThrottleSignal(reply) {
                self.init(disposition: .deferred, isThrottleSignal: true, reason: .throttled)
            } else if Self.saysGreylisted(text) {
                self.init(disposition: .deferred, reason: .greylisted)
            } else if enhanced?.subject == 2, enhanced?.detail == 2 {
                self.init(disposition: .deferred, reason: .mailboxFull)
            } else {
                self.init(disposition: .deferred, reason: .transient)
            }
            return
        }

        // 5xx (or a code outside 200...599, which RFC 5321 §4.2 gives no meaning: treat
        // it as the permanent failure a server that sends it most likely means).
        if stage == .session {
            // Postfix's smtp_skip_5xx_greeting: the site refuses the session; another
            // MX, or the same one later, may take it.
            self.init(disposition: .deferred, reason: enhanced?.subject == 7 ? .policy : .permanent)
            return
        }
        let addressStage = stage == .recipient || stage == .data
        switch (enhanced?.subject, enhanced?.detail) {
        case (1, 1), (1, 2), (1, 3), (1, 6), (1, 10), (2, 1):
            self.init(disposition: .bounced, suppressesAddress: addressStage, reason: .badAddress)
        case (1, _):
            // 5.1.7 / 5.1.8 are about the sender; other X.1.x about addressing in general.
            self.init(disposition: .bounced, reason: stage == .mail ? .permanent : .badAddress)
        case (2, 2):
            self.init(disposition: .bounced, reason: .mailboxFull)
        case (7, _):
            self.init(disposition: .bounced, reason: .policy)
        case (nil, _), (0, 0):
            let unknownUser = addressStage && Self.saysUserUnknown(text)
            self.init(disposition: .bounced, suppressesAddress: unknownUser,
                      reason: unknownUser ? .badAddress : .permanent)
        default:
            self.init(disposition: .bounced, reason: .permanent)
        }
    }

    /// Whether a reply asks the site's sender to slow down. See `isThrottleSignal`.
    public static func isThrottleSignal(_ reply: SMTPReply) -> Bool {
        // 421: the server is closing the channel (RFC 5321 §3.8) — whatever it says,
        // hammering it with new connections is the wrong answer.
        if reply.code == 421 { return true }
        guard reply.isTransientFailure else { return false }
        let text = reply.text.lowercased()
        // Greylisting asks for a retry of this message, not a slower pace.
        if saysGreylisted(text) { return false }
        if let enhanced = reply.enhancedCode {
            // X.7.x: security or policy, where providers put their rate limits (Gmail
            // 4.7.28, Yahoo 4.7.0 [TSS04], Microsoft 4.7.650); X.4.5: mail system
            // congestion (RFC 3463 §3.5).
            if enhanced.subject == 7 { return true }
            if enhanced.subject == 4, enhanced.detail == 5 { return true }
            // X.1.x and X.2.x are about one address or mailbox (Gmail's 4.2.1 "receiving
            // mail at a rate…" concerns one user), not the site's load.
            if enhanced.subject == 1 || enhanced.subject == 2 { return false }
            if enhanced.subject == 5, enhanced.detail == 3 { return false }
        }
        if saysTooManyRecipients(enhanced: reply.enhancedCode, text: text) { return false }
        let words = Set(text.split(whereSeparator: { !$0.isLetter }).map(String.init))
        if !words.isDisjoint(with: ["rate", "rates", "ratelimit", "ratelimited", "ratelimiting"]) { return true }
        return text.contains("too many") || text.contains("throttl") || text.contains("try again later")
            || text.contains("try later")
    }

    /// Whether a refusal of a recipient is really about the sender's own setup, the same
    /// for every recipient: Postfix's `reject_non_fqdn_helo_hostname` and
    /// `reject_invalid_helo_hostname` answer at RCPT (with `smtpd_delay_reject`)
    /// "504 5.5.2 <name>: Helo command rejected: need fully-qualified hostname". Nobody's
    /// address is at fault: the engine stops the route rather than bounce anyone.
    public static func isSenderFault(_ reply: SMTPReply) -> Bool {
        guard !reply.isPositiveCompletion, !reply.isIntermediate else { return false }
        let text = reply.text.lowercased()
        return text.contains("helo command rejected") || text.contains("need fully-qualified hostname")
    }

    private static func saysGreylisted(_ text: String) -> Bool {
        text.contains("greylist") || text.contains("graylist") || text.contains("grey-list") || text.contains("gray-list")
    }

    private static func saysTooManyRecipients(enhanced: EnhancedStatusCode?, text: String) -> Bool {
        if let enhanced, enhanced.subject == 5, enhanced.detail == 3 { return true }
        return text.contains("too many recipients")
    }

    /// Text that plainly says the mailbox does not exist, for servers that send no
    /// enhanced code. Narrow on purpose: "mailbox unavailable" is RFC 5321's stock 550
    /// text and is used for policy refusals too.
    private static func saysUserUnknown(_ text: String) -> Bool {
        ["user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient",
         "recipient unknown", "unknown recipient", "mailbox not found", "user not found",
         "address does not exist", "user does not exist", "mailbox does not exist", "invalid recipient"]
            .contains { text.contains($0) }
    }

    // MARK: - Failures without a reply

    /// A DNS failure while routing the recipient's domain (RFC 5321 §5.1).
    public init(dnsError: DNSLookupError) {
        switch dnsError {
        case .noSuchDomain:
            // NXDOMAIN is authoritative: the domain does not exist, no address in it works.
            self.init(disposition: .bounced, suppressesAddress: true, reason: .noSuchDomain)
        case .noRecords:
            // No MX and no address record for the implicit MX: RFC 5321 §5.1 makes it an
            // error. Not suppressed: a domain whose records are missing for a while
            // (a botched zone change) is not evidence that the mailbox is bad.
            self.init(disposition: .bounced, reason: .noSuchDomain)
        case .temporary:
            self.init(disposition: .deferred, reason: .dnsTemporary)
        }
    }

    /// The recipient domain publishes `MX 0 .` (RFC 7505): it accepts no mail, bounce
    /// at once with 5.1.10 (RFC 7505 §4.3).
    public static let nullMX = ReplyClassification(disposition: .bounced, suppressesAddress: true, reason: .nullMX)

    /// An SMTP session failure reported by `SMTPConnection`. When the failure carries a
    /// reply, the reply decides as a session-level reply (421 stays a throttle signal);
    /// otherwise it is a connection problem and defers — except a connection lost after
    /// the message was sent, which is in doubt (`unknown`), and an envelope address we
    /// could not even send, which no retry will fix.
    public init(error: SMTPError) {
        switch error.code {
        case .connectionClosedAfterData:
            self.init(disposition: .unknown, reason: .inDoubt)
        case .invalidAddress:
            self.init(disposition: .bounced, reason: .permanent)
        case .serviceNotAvailable:
            self.init(disposition: .deferred, isThrottleSignal: true, reason: .throttled)
        default:
            if let reply = error.reply, !reply.isPositiveCompletion {
                self.init(reply: reply, stage: .session)
                if disposition == .bounced { disposition = .deferred }
            } else {
                self.init(disposition: .deferred, reason: .connection)
            }
        }
    }
}
