@testable import Delivery
import SMTP
import Testing

@Suite struct DeferralRuleTests {
    let yahoo = SiteKey(mxHosts: ["mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net", "mta7.am0.yahoodns.net"])
    let gmail = SiteKey(mxHosts: ["gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"])
    let office365 = SiteKey(mxHosts: ["shop-example.mail.protection.outlook.com"])
    let outlook = SiteKey(mxHosts: ["outlook-com.olc.protection.outlook.com"])
    let icloud = SiteKey(mxHosts: ["mx01.mail.icloud.com", "mx02.mail.icloud.com"])
    let other = SiteKey(mxHosts: ["mx.other.test"])

    func reply(_ code: Int, _ enhanced: String?, _ text: String) -> SMTPReply {
        SMTPReply(code: code, enhancedCode: enhanced.flatMap { EnhancedStatusCode(Substring($0)) }, lines: [text])
    }

    func firstDefault(_ reply: SMTPReply, _ site: SiteKey?) -> DeferralRule? {
        DeferralRule.firstMatch(in: DeferralRule.defaults, reply: reply, site: site)
    }

    @Test func yahooTSS04SuspendsForHours() {
        let tss04 = reply(421, "4.7.0", "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes")
        let rule = firstDefault(tss04, yahoo)
        #expect(rule?.name == "yahoo-tss04")
        #expect(rule?.action == .suspend(for: .seconds(2 * 3600)))
        #expect(firstDefault(reply(421, "4.7.0", "[TS04] Messages from 192.0.2.1 temporarily deferred"), yahoo)?.name == "yahoo-tss04")
        #expect(firstDefault(reply(421, "4.7.0", "[TSS05] Messages from 192.0.2.1 temporarily deferred"), yahoo)?.action == .suspend(for: .seconds(4 * 3600)))
        #expect(firstDefault(reply(421, "4.7.0", "[TS03] All messages from 192.0.2.1 will be permanently deferred"), yahoo)?.action
                == .throttle(Rate(count: 10, per: 60), for: .seconds(1800)))
        // The same text from a site that is not Yahoo falls to the generic rule.
        #expect(firstDefault(tss04, other)?.name == "ip-temporarily-deferred")
    }

    @Test func gmailRateLimitsThrottle() {
        let unusualRate = reply(421, "4.7.28", "[192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.")
        #expect(firstDefault(unusualRate, gmail)?.name == "gmail-4.7.28")
        #expect(firstDefault(unusualRate, gmail)?.action == .throttle(Rate(count: 10, per: 60), for: .seconds(1800)))
        #expect(firstDefault(reply(421, "4.7.0", "Our system has detected an unusual rate of mail; try again later"), gmail)?.name == "gmail-4.7.0-rate")
        // Gmail's 4.7.0 that is not about a rate is left to the adaptive back-off.
        #expect(firstDefault(reply(421, "4.7.0", "Try again later, closing connection. (EHLO)"), gmail) == nil)
        // A per-mailbox rate (4.2.1) concerns one user, not the site.
        #expect(firstDefault(reply(450, "4.2.1", "The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered"), gmail) == nil)
    }

    @Test func microsoftThrottles() {
        let busy = reply(451, "4.7.500", "Server busy. Please try again later from [192.0.2.1]. (S77714) [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]")
        #expect(firstDefault(busy, office365)?.name == "microsoft-server-busy")
        #expect(firstDefault(busy, office365)?.action == .throttle(Rate(count: 1, per: 60), for: .seconds(5400)))
        #expect(firstDefault(reply(451, "4.7.599", "Server busy (S3150)"), outlook)?.name == "microsoft-server-busy")
        let rateLimited = reply(421, "4.7.650", "The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. (S775)")
        #expect(firstDefault(rateLimited, outlook)?.name == "microsoft-rate-limited")
        #expect(firstDefault(rateLimited, outlook)?.action == .suspend(for: .seconds(1800)))
        #expect(firstDefault(reply(421, "4.7.666", "rate limited"), office365)?.name == "microsoft-rate-limited")
        // 4.7.500 from a site that is not Microsoft's means nothing in particular.
        #expect(firstDefault(reply(451, "4.7.500", "busy"), other) == nil)
        #expect(firstDefault(reply(451, "4.7.499", "busy"), office365) == nil)
    }

    @Test func appleDeferrals() {
        #expect(firstDefault(reply(421, nil, "[HCM1] Your mail from 192.0.2.1 was deferred"), icloud)?.action == .suspend(for: .seconds(900)))
        #expect(firstDefault(reply(451, nil, "[BS02] Temporary server error. Please try again later"), icloud)?.name == "icloud-deferred")
    }

    @Test func ordinaryRepliesMatchNothing() {
        for site in [yahoo, gmail, office365, outlook, icloud, other] {
            #expect(firstDefault(reply(250, "2.0.0", "OK"), site) == nil)
            #expect(firstDefault(reply(550, "5.1.1", "User unknown"), site) == nil)
            #expect(firstDefault(reply(451, "4.3.0", "Temporary local problem"), site) == nil)
        }
    }

    @Test func rulesFromConfiguration() throws {
        let rule = try DeferralRule(key: "deferral_rules[0]", name: "acme", sites: ["*.acme.test"], code: "45",
                                    enhanced: "4.7", text: "Slow Down", throttle: "5/min", duration: "20m")
        #expect(rule.action == .throttle(Rate(count: 5, per: 60), for: .seconds(1200)))
        let acme = SiteKey(mxHosts: ["mx1.acme.test"])
        #expect(rule.matches(reply(451, "4.7.1", "please SLOW DOWN"), site: acme))
        #expect(!rule.matches(reply(421, "4.7.1", "please slow down"), site: acme))    // code 421 is not 45x
        #expect(!rule.matches(reply(451, "4.3.0", "please slow down"), site: acme))    // not 4.7
        #expect(!rule.matches(reply(451, nil, "please slow down"), site: acme))        // no enhanced code
        #expect(!rule.matches(reply(451, "4.7.1", "please slow down"), site: other))   // another site
        #expect(!rule.matches(reply(451, "4.7.1", "please slow down"), site: nil))

        let suspend = try DeferralRule(key: "deferral_rules[1]", regex: #"quota \d+ exceeded"#, suspend: "1h")
        #expect(suspend.name == "deferral_rules[1]")
        #expect(suspend.action == .suspend(for: .seconds(3600)))
        #expect(suspend.matches(reply(550, nil, "Daily QUOTA 500 exceeded"), site: nil))
        #expect(!suspend.matches(reply(550, nil, "quota exceeded"), site: nil))

        // A user's rule comes before the shipped ones.
        let tss04 = reply(421, "4.7.0", "[TSS04] Messages from 192.0.2.1 temporarily deferred")
        let mine = try DeferralRule(key: "deferral_rules[2]", name: "mine", text: "[TSS04]", suspend: "6h")
        #expect(DeferralRule.firstMatch(in: [mine] + DeferralRule.defaults, reply: tss04, site: yahoo)?.name == "mine")
    }

    @Test func configurationErrorsNameTheKey() {
        func problem(_ make: () throws(DeferralRuleError) -> DeferralRule) -> String {
            do { _ = try make(); return "no error" } catch { return error.description }
        }
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", suspend: "1h") }.hasPrefix("r: a rule needs at least one of"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", code: "6", suspend: "1h") }.hasPrefix("r.code:"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", enhanced: "4.x", suspend: "1h") }.hasPrefix("r.enhanced:"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", regex: "(", suspend: "1h") }.hasPrefix("r.regex:"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", text: "a", regex: "b", suspend: "1h") }.hasPrefix("r: give text or regex"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", text: "a") }.hasPrefix("r: give exactly one action"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", text: "a", throttle: "5/min", suspend: "1h") }.hasPrefix("r: give exactly one action"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", text: "a", throttle: "fast") }.hasPrefix("r.throttle:"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", text: "a", throttle: "5/min") }.hasPrefix("r.duration: a throttle needs"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", text: "a", suspend: "soon") }.hasPrefix("r.suspend:"))
        #expect(problem { () throws(DeferralRuleError) in try DeferralRule(key: "r", sites: ["a.*"], text: "a", suspend: "1h") }.hasPrefix("r.sites:"))
    }

    @Test func enhancedCodePatterns() throws {
        let range = try #require(EnhancedCodePattern("4.7.500-699"))
        #expect(range.matches(EnhancedStatusCode(statusClass: 4, subject: 7, detail: 500)))
        #expect(range.matches(EnhancedStatusCode(statusClass: 4, subject: 7, detail: 699)))
        #expect(!range.matches(EnhancedStatusCode(statusClass: 4, subject: 7, detail: 700)))
        #expect(!range.matches(EnhancedStatusCode(statusClass: 5, subject: 7, detail: 500)))
        #expect(range.description == "4.7.500-699")
        #expect(EnhancedCodePattern("4.7")?.matches(EnhancedStatusCode(statusClass: 4, subject: 7, detail: 28)) == true)
        #expect(EnhancedCodePattern("4.7.0")?.description == "4.7.0")
        for bad in ["4", "3.7.0", "4.7.9-1", "4.7.x", "4.7.0.1", ""] {
            #expect(EnhancedCodePattern(bad) == nil, "\(bad)")
        }
    }
}
