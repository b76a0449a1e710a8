@testable import Delivery
import SMTP
import Testing
import TestPeers

@Suite struct DeliveryPolicyTests {
    let yahoo = SiteKey(mxHosts: ["mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net"])
    let gmail = SiteKey(mxHosts: ["gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"])
    let calm = SiteKey(mxHosts: ["mx.calm.test"])

    func reply(_ code: Int, _ enhanced: String?, _ text: String) -> SMTPReply {
        SMTPReply(code: code, enhancedCode: enhanced.flatMap { EnhancedStatusCode(Substring($0)) }, lines: [text])
    }

    func policy() throws -> DeliveryPolicy<FakeInstant> {
        DeliveryPolicy(limits: try SiteLimits(default: DeliveryLimits(connections: 8)),
                       backoff: .init(maxConcurrency: 1, successesPerStep: 2, jitter: 1...1))
    }

    @Test func admissionCarriesTheResolvedLimits() throws {
        var policy = try policy()
        guard case .proceed(let limits) = policy.admit(domain: "gmail.com", site: gmail, now: .start) else {
            Issue.record("gmail.com not admitted")
            return
        }
        #expect(limits.site == gmail)
        #expect(limits.messagesPerConnection == 50)
        #expect(limits.requireTLS)
        #expect(policy.concurrency(for: gmail) == 5)
        #expect(policy.concurrency(for: calm) == nil)
        guard case .proceed(let other) = policy.admit(domain: "calm.test", site: calm, now: .start) else {
            Issue.record("calm.test not admitted")
            return
        }
        #expect(other.connections == 8)
    }

    @Test func a421PausesOnlyItsSiteAndSuccessesBringItBack() throws {
        var policy = try policy()
        var generator = SeededGenerator(seed: 11)
        _ = policy.admit(domain: "calm.test", site: calm, now: .start)
        _ = policy.admit(domain: "gmail.com", site: gmail, now: .start)
        let reaction = policy.replied(reply(421, "4.7.0", "Try again later, closing connection."), site: gmail, now: .start, using: &generator)
        #expect(reaction.classification.disposition == .deferred)
        #expect(reaction.rule == nil)
        #expect(reaction.site == .pause(until: .seconds(30), concurrency: 2))
        #expect(policy.admit(domain: "gmail.com", site: gmail, now: .seconds(10)) == .wait(until: .seconds(30)))
        if case .proceed = policy.admit(domain: "calm.test", site: calm, now: .seconds(10)) {} else { Issue.record("calm site held up") }
        #expect(policy.concurrency(for: calm) == 8)
        // After the pause, successes add connections back two at a time.
        if case .proceed = policy.admit(domain: "gmail.com", site: gmail, now: .seconds(30)) {} else { Issue.record("gmail still paused") }
        let ok = reply(250, "2.0.0", "OK")
        #expect(policy.replied(ok, site: gmail, now: .seconds(31), using: &generator).site == .none)
        #expect(policy.replied(ok, site: gmail, now: .seconds(31), using: &generator).site == .setConcurrency(3))
    }

    @Test func yahooTSS04SuspendsTheSiteForTwoHours() throws {
        var policy = try policy()
        var generator = SeededGenerator(seed: 12)
        _ = policy.admit(domain: "yahoo.com", site: yahoo, now: .start)
        let reaction = policy.replied(reply(421, "4.7.0", "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints"),
                                      site: yahoo, now: .start, using: &generator)
        #expect(reaction.rule?.name == "yahoo-tss04")
        #expect(reaction.site == .pause(until: .seconds(7200), concurrency: 4))   // 8 connections (no Yahoo preset for it), halved
        #expect(policy.admit(domain: "ymail.com", site: yahoo, now: .seconds(3600)) == .wait(until: .seconds(7200)))
        #expect(policy.pausedSites(now: .seconds(3600)) == [yahoo: .seconds(7200)])
        #expect(policy.pausedSites(now: .seconds(7200)).isEmpty)
    }

    @Test func gmailRateLimitThrottlesTheSitesRate() throws {
        var policy = try policy()
        var generator = SeededGenerator(seed: 13)
        _ = policy.admit(domain: "gmail.com", site: gmail, now: .start)
        let reaction = policy.replied(reply(421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail originating from your IP address."),
                                      site: gmail, now: .start, using: &generator)
        #expect(reaction.rule?.name == "gmail-4.7.28")
        // Paused by the back-off for 30 s, then 10/min (one every 6 s) until 30 minutes.
        #expect(policy.admit(domain: "gmail.com", site: gmail, now: .seconds(1)) == .wait(until: .seconds(30)))
        if case .proceed = policy.admit(domain: "gmail.com", site: gmail, now: .seconds(30)) {} else { Issue.record("not admitted after the pause") }
        #expect(policy.admit(domain: "gmail.com", site: gmail, now: .seconds(30)) == .wait(until: .seconds(36)))
        // After the override, Gmail has no configured rate: no waiting.
        for _ in 0..<20 {
            if case .proceed = policy.admit(domain: "gmail.com", site: gmail, now: .seconds(1800)) {} else { Issue.record("still throttled") }
        }
    }

    @Test func connectionFailuresDeferWithoutSlowingTheSite() throws {
        var policy = try policy()
        var generator = SeededGenerator(seed: 14)
        let refused = policy.failed(SMTPError(.connectFailed, detail: "connection refused"), site: calm, now: .start, using: &generator)
        #expect(refused.classification.disposition == .deferred)
        #expect(refused.site == .none)
        let closing = policy.failed(SMTPError(.serviceNotAvailable, reply: reply(421, nil, "Too many connections")), site: calm, now: .start, using: &generator)
        #expect(closing.classification.isThrottleSignal)
        #expect(closing.site != .none)
        let inDoubt = policy.failed(SMTPError(.connectionClosedAfterData), site: calm, now: .seconds(100), using: &generator)
        #expect(inDoubt.classification.disposition == .unknown)
    }
}
