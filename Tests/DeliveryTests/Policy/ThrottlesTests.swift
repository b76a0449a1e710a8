@testable import Delivery
import TestPeers
import Testing

@Suite struct ThrottlesTests {
    let gmail = SiteKey(mxHosts: ["gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"])
    let yahoo = SiteKey(mxHosts: ["mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net"])

    @Test func aMessageGoesWhenSiteDomainAndGlobalAllAgree() {
        var throttles = Throttles<FakeInstant>(globalRate: Rate(count: 100, per: 1))
        let site = Rate(count: 2, per: 1)       // burst 2, then every 500 ms
        let domain = Rate(count: 60, per: 60)   // burst 1, then every second
        #expect(throttles.take(site: yahoo, siteRate: site, domain: "yahoo.com", domainRate: domain, now: .start) == .proceed)
        // The site has a token left, the domain has not: wait for the domain, the later.
        #expect(throttles.take(site: yahoo, siteRate: site, domain: "yahoo.com", domainRate: domain, now: .start) == .wait(until: .seconds(1)))
        // ymail.com shares the site but not yahoo.com's bucket: the site's second token.
        #expect(throttles.take(site: yahoo, siteRate: site, domain: "ymail.com", domainRate: nil, now: .start) == .proceed)
        // Now the site is empty too; the answer is the latest of the limits.
        #expect(throttles.take(site: yahoo, siteRate: site, domain: "ymail.com", domainRate: nil, now: .start) == .wait(until: .milliseconds(500)))
        // Another site is untouched.
        #expect(throttles.take(site: gmail, siteRate: site, domain: "gmail.com", domainRate: nil, now: .start) == .proceed)
    }

    @Test func aWaitChargesNoBucket() {
        var throttles = Throttles<FakeInstant>(globalRate: nil)
        let slowDomain = Rate(count: 1, per: 60)
        #expect(throttles.take(site: yahoo, siteRate: Rate(count: 3, per: 1), domain: "yahoo.com", domainRate: slowDomain, now: .start) == .proceed)
        // Ten refusals by the domain bucket must not drain the site's two remaining tokens.
        for _ in 0..<10 {
            #expect(throttles.take(site: yahoo, siteRate: Rate(count: 3, per: 1), domain: "yahoo.com", domainRate: slowDomain, now: .start) != .proceed)
        }
        #expect(throttles.take(site: yahoo, siteRate: Rate(count: 3, per: 1), domain: "ymail.com", domainRate: nil, now: .start) == .proceed)
        #expect(throttles.take(site: yahoo, siteRate: Rate(count: 3, per: 1), domain: "ymail.com", domainRate: nil, now: .start) == .proceed)
        #expect(throttles.take(site: yahoo, siteRate: Rate(count: 3, per: 1), domain: "ymail.com", domainRate: nil, now: .start) != .proceed)
    }

    @Test func theGlobalRateCapsEverySiteTogether() {
        var throttles = Throttles<FakeInstant>(globalRate: Rate(count: 3, per: 1))
        #expect(throttles.take(site: gmail, siteRate: nil, domain: "gmail.com", domainRate: nil, now: .start) == .proceed)
        #expect(throttles.take(site: yahoo, siteRate: nil, domain: "yahoo.com", domainRate: nil, now: .start) == .proceed)
        #expect(throttles.take(site: gmail, siteRate: nil, domain: "gmail.com", domainRate: nil, now: .start) == .proceed)
        #expect(throttles.take(site: yahoo, siteRate: nil, domain: "yahoo.com", domainRate: nil, now: .start) != .proceed)
        throttles.setGlobalRate(nil)
        #expect(throttles.take(site: yahoo, siteRate: nil, domain: "yahoo.com", domainRate: nil, now: .start) == .proceed)
    }

    @Test func aSiteOverrideSlowsOneSiteForAWhile() {
        var throttles = Throttles<FakeInstant>(globalRate: nil)
        throttles.override(site: yahoo, to: Rate(count: 1, per: 60), until: .seconds(600))
        #expect(throttles.take(site: yahoo, siteRate: nil, domain: "yahoo.com", domainRate: nil, now: .start) == .proceed)
        #expect(throttles.take(site: yahoo, siteRate: nil, domain: "yahoo.com", domainRate: nil, now: .seconds(1)) == .wait(until: .seconds(60)))
        for _ in 0..<100 {
            #expect(throttles.take(site: gmail, siteRate: nil, domain: "gmail.com", domainRate: nil, now: .seconds(1)) == .proceed)
        }
        // After the override, no limit again.
        for _ in 0..<100 {
            #expect(throttles.take(site: yahoo, siteRate: nil, domain: "yahoo.com", domainRate: nil, now: .seconds(600)) == .proceed)
        }
    }

    @Test func resolvedLimitsDriveTheBuckets() throws {
        let limits = try SiteLimits(domains: ["yahoo.com": DeliveryLimits(rate: Rate(count: 100, per: 3600))],
                                    sites: ["*.yahoodns.net": DeliveryLimits(rate: Rate(count: 10, per: 1))])
        let effective = limits.resolve(domain: "yahoo.com", site: yahoo)
        var throttles = Throttles<FakeInstant>(globalRate: limits.global.rate)
        #expect(throttles.take(effective, domain: "yahoo.com", now: .start) == .proceed)
        #expect(throttles.take(effective, domain: "yahoo.com", now: .start) == .wait(until: .seconds(36)))
        #expect(throttles.sites[yahoo]?.rate == Rate(count: 10, per: 1))
        #expect(throttles.domains["yahoo.com"]?.rate == Rate(count: 100, per: 3600))
    }
}
