@testable import Delivery
import SMTP
import Testing

@Suite struct ReplyClassificationTests {
    func reply(_ code: Int, _ enhanced: String? = nil, _ text: String = "") -> SMTPReply {
        SMTPReply(code: code, enhancedCode: enhanced.flatMap { EnhancedStatusCode(Substring($0)) }, lines: [text])
    }

    func classify(_ code: Int, _ enhanced: String? = nil, _ text: String = "", stage: ReplyClassification.Stage = .recipient) -> ReplyClassification {
        ReplyClassification(reply: reply(code, enhanced, text), stage: stage)
    }

    @Test func acceptedRepliesAreSent() {
        #expect(classify(250, "2.0.0", "OK queued as 1234", stage: .data).disposition == .sent)
        #expect(classify(251, nil, "User not local; will forward").disposition == .sent)
        #expect(classify(250).reason == .accepted)
    }

    @Test func hardBouncesSuppressTheAddress() {
        for code in ["5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"] {
            let result = classify(550, code, "rejected")
            #expect(result.disposition == .bounced, "\(code)")
            #expect(result.suppressesAddress, "\(code)")
            #expect(result.reason == .badAddress, "\(code)")
            #expect(!result.isThrottleSignal, "\(code)")
        }
        // No enhanced code, but the text says so plainly.
        #expect(classify(550, nil, "No such user here").suppressesAddress)
        #expect(classify(550, "5.0.0", "<a@b.test>: Recipient address rejected: User unknown in local recipient table").suppressesAddress)
        // RFC 5321's stock 550 text is used for policy refusals too: no suppression.
        #expect(!classify(550, nil, "Requested action not taken: mailbox unavailable").suppressesAddress)
    }

    @Test func policyFullMailboxAndOtherPermanentFailuresBounceWithoutSuppressing() {
        let policy = classify(550, "5.7.1", "Message rejected as spam")
        #expect(policy.disposition == .bounced)
        #expect(!policy.suppressesAddress)
        #expect(policy.reason == .policy)
        #expect(classify(550, "5.7.26", "Unauthenticated email from shop.example is not accepted due to domain's DMARC policy").reason == .policy)

        let full = classify(552, "5.2.2", "Mailbox full")
        #expect(full.disposition == .bounced)
        #expect(!full.suppressesAddress)
        #expect(full.reason == .mailboxFull)

        #expect(classify(552, "5.3.4", "Message too big").reason == .permanent)
        #expect(!classify(554, "5.4.4", "Unable to route").suppressesAddress)
        // A sender problem never suppresses the recipient.
        let badSender = classify(553, "5.1.8", "Sender address rejected: Domain not found", stage: .mail)
        #expect(badSender.disposition == .bounced)
        #expect(!badSender.suppressesAddress)
        #expect(!classify(550, "5.1.1", "user unknown", stage: .mail).suppressesAddress)
    }

    @Test func theBasicCodeWinsOverAMismatchedEnhancedCode() {
        #expect(classify(450, "5.1.1", "try later").disposition == .deferred)
        #expect(classify(550, "4.2.2", "over quota").disposition == .bounced)
    }

    @Test func temporaryFailuresDefer() {
        let plain = classify(451, "4.3.0", "Local error in processing")
        #expect(plain.disposition == .deferred)
        #expect(!plain.isThrottleSignal)
        #expect(plain.reason == .transient)
        #expect(classify(452, "4.2.2", "Mailbox full").reason == .mailboxFull)
        #expect(classify(451, nil, "Requested action aborted").disposition == .deferred)
    }

    @Test func throttleSignals() {
        // 421 whatever it says.
        #expect(classify(421, "4.3.2", "Service shutting down").isThrottleSignal)
        #expect(classify(421, nil, "closing connection").isThrottleSignal)
        // Any 4xx with 4.7.x.
        #expect(classify(421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail").isThrottleSignal)
        #expect(classify(451, "4.7.500", "Server busy. Please try again later from [192.0.2.1]. (AS3150)").isThrottleSignal)
        #expect(classify(450, "4.7.1", "Client host rejected: cannot find your hostname").isThrottleSignal)
        // Congestion, RFC 3463 X.4.5.
        #expect(classify(451, "4.4.5", "Mail system congested").isThrottleSignal)
        // Text.
        #expect(classify(450, nil, "Too many connections from your host").isThrottleSignal)
        #expect(classify(451, "4.3.0", "Rate limit exceeded").isThrottleSignal)
        #expect(classify(451, nil, "Throttling failure: Daily message quota exceeded").isThrottleSignal)
        #expect(classify(450, "4.3.0", "Please try again later").isThrottleSignal)
        #expect(classify(451, "4.3.0", "Rate limit exceeded").reason == .throttled)
        // Not signals: a permanent failure, words that merely contain "rate", one
        // mailbox's state, greylisting.
        #expect(!classify(550, "5.7.1", "Too many complaints").isThrottleSignal)
        #expect(classify(451, nil, "Temporary local problem - please try later").isThrottleSignal)
        #expect(!classify(451, "4.3.0", "Could not generate a separate queue file").isThrottleSignal)
        #expect(!classify(450, "4.2.1", "The user you are trying to contact is receiving mail at a rate that prevents additional messages").isThrottleSignal)
        let greylisted = classify(450, "4.7.1", "Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/ - please try again later")
        #expect(!greylisted.isThrottleSignal)
        #expect(greylisted.reason == .greylisted)
        #expect(greylisted.disposition == .deferred)
    }

    @Test func tooManyRecipientsDefersTheRestWithoutSlowingDown() {
        let limit = classify(452, "4.5.3", "Too many recipients")
        #expect(limit.disposition == .deferred)
        #expect(limit.isRecipientLimit)
        #expect(!limit.isThrottleSignal)
        // RFC 5321 §4.5.3.1.10: 552 here is RFC 821's mistake, treated as temporary.
        let old = classify(552, nil, "Too many recipients")
        #expect(old.disposition == .deferred)
        #expect(old.isRecipientLimit)
        #expect(classify(552, "5.5.3", "Recipient limit exceeded").disposition == .deferred)
    }

    @Test func sessionLevelRefusalsDeferRatherThanBounce() {
        let greeting = classify(554, "5.7.1", "Service unavailable; Client host [192.0.2.1] blocked", stage: .session)
        #expect(greeting.disposition == .deferred)
        #expect(!greeting.suppressesAddress)
        #expect(greeting.reason == .policy)
    }

    @Test func dnsFailures() {
        let nx = ReplyClassification(dnsError: .noSuchDomain("nowhere.test"))
        #expect(nx.disposition == .bounced)
        #expect(nx.suppressesAddress)
        #expect(nx.reason == .noSuchDomain)
        let none = ReplyClassification(dnsError: .noRecords("implicit.test", type: "A/AAAA"))
        #expect(none.disposition == .bounced)
        #expect(!none.suppressesAddress)
        let servfail = ReplyClassification(dnsError: .temporary("slow.test", reason: "SERVFAIL"))
        #expect(servfail.disposition == .deferred)
        #expect(servfail.reason == .dnsTemporary)
        #expect(ReplyClassification.nullMX.disposition == .bounced)
        #expect(ReplyClassification.nullMX.suppressesAddress)
        #expect(ReplyClassification.nullMX.reason == .nullMX)
    }

    @Test func connectionFailures() {
        #expect(ReplyClassification(error: SMTPError(.connectFailed, detail: "connection refused")).disposition == .deferred)
        #expect(ReplyClassification(error: SMTPError(.connectTimeout)).reason == .connection)
        #expect(ReplyClassification(error: SMTPError(.replyTimeout)).disposition == .deferred)
        #expect(ReplyClassification(error: SMTPError(.tlsHandshakeFailed)).disposition == .deferred)
        let inDoubt = ReplyClassification(error: SMTPError(.connectionClosedAfterData))
        #expect(inDoubt.disposition == .unknown)
        #expect(inDoubt.disposition.state == .unknown)
        let closing = ReplyClassification(error: SMTPError(.serviceNotAvailable, reply: reply(421, "4.7.0", "Try again later, closing connection")))
        #expect(closing.disposition == .deferred)
        #expect(closing.isThrottleSignal)
        let rejected = ReplyClassification(error: SMTPError(.greetingRejected, reply: reply(554, nil, "No SMTP service here")))
        #expect(rejected.disposition == .deferred)
        #expect(!rejected.suppressesAddress)
        let auth = ReplyClassification(error: SMTPError(.authenticationFailed, reply: reply(535, "5.7.8", "Authentication credentials invalid")))
        #expect(auth.disposition == .deferred)
        #expect(ReplyClassification(error: SMTPError(.invalidAddress)).disposition == .bounced)
    }

    @Test func dispositionsMapOntoDeliveryStates() {
        #expect(DeliveryDisposition.allCases.map(\.state) == [.sent, .deferred, .bounced, .unknown])
    }
}
