@testable import Delivery
import Testing

@Suite struct SiteLimitsTests {
    @Test func domainsOnTheSameMXShareOneSiteKey() {
        let a = SiteKey(mx: [MXRecord(preference: 1, exchange: "ASPMX.L.Google.com."),
                             MXRecord(preference: 5, exchange: "alt1.aspmx.l.google.com")])
        let b = SiteKey(mxHosts: ["alt1.aspmx.l.google.com", "aspmx.l.google.com", "aspmx.l.google.com"])
        #expect(a == b)
        #expect(a.hosts == ["alt1.aspmx.l.google.com", "aspmx.l.google.com"])
        #expect(a.description == "alt1.aspmx.l.google.com,aspmx.l.google.com")
        #expect(a != SiteKey(mxHosts: ["aspmx.l.google.com"]))
        // A route is a site of one host:port; the port tells routes apart.
        let route = SiteKey(host: "127.0.0.1", port: 2525)
        #expect(route.description == "127.0.0.1:2525")
        #expect(route != SiteKey(host: "127.0.0.1", port: 2526))
        #expect(SiteKey.implicitMX(domain: "Implicit.test") == SiteKey(mxHosts: ["implicit.test"]))
        #expect(a.split(for: "Example.com").description == "alt1.aspmx.l.google.com,aspmx.l.google.com (for example.com)")
        #expect(a.split(for: "example.com") != a)
    }

    @Test func sitePatterns() throws {
        let wildcard = try #require(SitePattern("*.Google.com"))
        #expect(wildcard.matches(host: "gmail-smtp-in.l.google.com"))
        #expect(wildcard.matches(host: "aspmx.l.google.com."))
        #expect(!wildcard.matches(host: "google.com"))
        #expect(!wildcard.matches(host: "notgoogle.com"))
        #expect(!wildcard.matches(host: "google.com.evil.test"))
        let exact = try #require(SitePattern("gmail-smtp-in.l.google.com"))
        #expect(exact.matches(host: "GMAIL-SMTP-IN.L.GOOGLE.COM"))
        #expect(!exact.matches(host: "alt1.gmail-smtp-in.l.google.com"))
        let everything = try #require(SitePattern("*"))
        let olc = try #require(SitePattern("*.olc.protection.outlook.com"))
        let protection = try #require(SitePattern("*.protection.outlook.com"))
        #expect(everything.matches(host: "anything.test"))
        #expect(exact.specificity > olc.specificity)
        #expect(olc.specificity > protection.specificity)
        #expect(protection.specificity > everything.specificity)
        for bad in ["", "*.", "mx.*.google.com", "*google.com", "g*.com", "bad host", "a..b"] {
            #expect(SitePattern(bad) == nil, "\(bad)")
        }
        // A site matches when any of its hosts does.
        #expect(wildcard.matches(SiteKey(mxHosts: ["mx.backup.test", "aspmx.l.google.com"])))
    }

    @Test func defaultsApplyWithNothingConfigured() throws {
        let limits = try SiteLimits(presets: [:])
        let effective = limits.resolve(domain: "example.test", site: SiteKey(mxHosts: ["mx.example.test"]))
        #expect(effective.connections == 5)
        #expect(effective.messagesPerConnection == 100)
        #expect(effective.recipientsPerTransaction == 50)
        #expect(effective.siteRate == nil)
        #expect(effective.domainRate == nil)
        #expect(!effective.requireTLS)
        #expect(effective.sources == ["default"])
        #expect(limits.global.connections == 200)
    }

    @Test func theMostSpecificSettingWinsFieldByField() throws {
        let limits = try SiteLimits(
            global: DeliveryLimits(connections: 50, rate: Rate(count: 2000, per: 1)),
            default: DeliveryLimits(connections: 3, rate: Rate(count: 20, per: 1)),
            domains: ["Yahoo.com": DeliveryLimits(rate: Rate(count: 100, per: 3600))],
            sites: ["*": DeliveryLimits(recipientsPerTransaction: 10),
                    "*.protection.outlook.com": DeliveryLimits(connections: 4, rate: Rate(count: 60, per: 60)),
                    "*.olc.protection.outlook.com": DeliveryLimits(connections: 2),
                    "hotmail-com.olc.protection.outlook.com": DeliveryLimits(messagesPerConnection: 7)],
            presets: ["*.olc.protection.outlook.com": DeliveryLimits(connections: 5, messagesPerConnection: 50, requireTLS: true)])
        #expect(limits.global.connections == 50)
        #expect(limits.global.rate == Rate(count: 2000, per: 1))

        let hotmail = SiteKey(mxHosts: ["hotmail-com.olc.protection.outlook.com"])
        let effective = limits.resolve(domain: "hotmail.com", site: hotmail)
        #expect(effective.site == hotmail)
        #expect(effective.connections == 2)                   // user *.olc over the preset's 5
        #expect(effective.messagesPerConnection == 7)         // the exact host
        #expect(effective.recipientsPerTransaction == 10)     // "*"
        #expect(effective.siteRate == Rate(count: 60, per: 60)) // *.protection.outlook.com
        #expect(effective.requireTLS)                         // the preset, not overridden
        #expect(effective.sources == ["default", "sites *", "sites *.protection.outlook.com",
                                      "preset *.olc.protection.outlook.com", "sites *.olc.protection.outlook.com",
                                      "sites hotmail-com.olc.protection.outlook.com"])

        // A domain's rate is a bucket of its own; the site it shares keeps its pool.
        let yahooSite = SiteKey(mxHosts: ["mta5.am0.yahoodns.net"])
        let yahoo = limits.resolve(domain: "YAHOO.com.", site: yahooSite)
        #expect(yahoo.site == yahooSite)
        #expect(yahoo.domainRate == Rate(count: 100, per: 3600))
        #expect(yahoo.siteRate == Rate(count: 20, per: 1))
        #expect(yahoo.connections == 3)
        #expect(yahoo.sources.last == "domains yahoo.com")
        #expect(limits.resolve(domain: "ymail.com", site: yahooSite).domainRate == nil)
    }

    @Test func aDomainWithPoolSettingsGetsASiteOfItsOwn() throws {
        let limits = try SiteLimits(domains: ["big.example": DeliveryLimits(connections: 1, rate: Rate(count: 5, per: 1))],
                                    sites: ["*.hoster.test": DeliveryLimits(connections: 8, messagesPerConnection: 30)],
                                    presets: [:])
        let shared = SiteKey(mxHosts: ["mx1.hoster.test", "mx2.hoster.test"])
        let big = limits.resolve(domain: "big.example", site: shared)
        #expect(big.site == shared.split(for: "big.example"))
        #expect(big.connections == 1)
        #expect(big.messagesPerConnection == 30)   // still inherited from the site pattern
        #expect(big.domainRate == Rate(count: 5, per: 1))
        let small = limits.resolve(domain: "small.example", site: shared)
        #expect(small.site == shared)
        #expect(small.connections == 8)
    }

    @Test func aBadSitePatternIsNamedInTheError() {
        #expect(throws: SiteLimitsError(key: "limits.sites", pattern: "mx.*.test")) {
            try SiteLimits(sites: ["mx.*.test": DeliveryLimits(connections: 1)])
        }
        let error = SiteLimitsError(key: "limits.sites", pattern: "mx.*.test")
        #expect(error.description.contains("limits.sites: 'mx.*.test'"))
    }

    @Test func providerPresetsApplyByMXName() throws {
        let limits = try SiteLimits()
        let gmail = limits.resolve(domain: "gmail.com", site: SiteKey(mxHosts: ["gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"]))
        #expect(gmail.connections == 5)
        #expect(gmail.messagesPerConnection == 50)
        #expect(gmail.requireTLS)
        #expect(gmail.sources == ["default", "preset *.google.com"])
        let workspace = limits.resolve(domain: "shop.example", site: SiteKey(mxHosts: ["aspmx.l.google.com"]))
        #expect(workspace.messagesPerConnection == 50)
        #expect(limits.resolve(domain: "yahoo.com", site: SiteKey(mxHosts: ["mta7.am0.yahoodns.net"])).messagesPerConnection == 20)
        let outlook = limits.resolve(domain: "outlook.com", site: SiteKey(mxHosts: ["outlook-com.olc.protection.outlook.com"]))
        #expect(outlook.sources == ["default", "preset *.protection.outlook.com", "preset *.olc.protection.outlook.com"])
        #expect(outlook.connections == 5)
        let icloud = limits.resolve(domain: "icloud.com", site: SiteKey(mxHosts: ["mx01.mail.icloud.com", "mx02.mail.icloud.com"]))
        #expect(icloud.connections == 10)
        #expect(icloud.messagesPerConnection == 5)
        // A user entry for a preset's pattern changes only what it names.
        let tuned = try SiteLimits(sites: ["*.google.com": DeliveryLimits(connections: 10, rate: Rate(count: 3000, per: 60))])
            .resolve(domain: "gmail.com", site: SiteKey(mxHosts: ["gmail-smtp-in.l.google.com"]))
        #expect(tuned.connections == 10)
        #expect(tuned.siteRate == Rate(count: 3000, per: 60))
        #expect(tuned.messagesPerConnection == 50)
        #expect(tuned.requireTLS)
        // Every preset has a pattern that parses and a source.
        for preset in ProviderPresets.all {
            #expect(!preset.source.isEmpty)
            for pattern in preset.patterns { #expect(SitePattern(pattern) != nil, "\(pattern)") }
        }
    }
}

extension SiteLimitsTests {
    @Test func keptSiteSettingsResolveTheSameAsFreshOnes() throws {
        let limits = try SiteLimits(domains: ["gmail.com": DeliveryLimits(rate: Rate(count: 5, per: 1))],
                                    sites: ["*.google.com": DeliveryLimits(connections: 7)])
        let site = SiteKey(mxHosts: ["gmail-smtp-in.l.google.com"])
        let kept = limits.settings(for: site)
        #expect(kept.sources == ["default", "preset *.google.com", "sites *.google.com"])
        for domain in ["gmail.com", "googlemail.com"] {
            #expect(limits.resolve(domain: domain, site: site, settings: kept) == limits.resolve(domain: domain, site: site))
        }
    }
}

extension SiteLimitsTests {
    @Test func siteKeysFromTheRoutersSiteNames() {
        #expect(SiteKey(routerSite: "mx:alt1.aspmx.l.google.com,aspmx.l.google.com")
                == SiteKey(mxHosts: ["aspmx.l.google.com", "alt1.aspmx.l.google.com"]))
        #expect(SiteKey(routerSite: "mx:implicit.test") == .implicitMX(domain: "implicit.test"))
        #expect(SiteKey(routerSite: "mx:mx.test", mxPort: 2525)?.port == 2525)
        #expect(SiteKey(routerSite: "route:127.0.0.1:2525") == SiteKey(host: "127.0.0.1", port: 2525))
        #expect(SiteKey(routerSite: "relay:smtp.provider.example:587") == SiteKey(host: "smtp.provider.example", port: 587))
        #expect(SiteKey(routerSite: "route:::1:2525") == SiteKey(host: "::1", port: 2525))
        #expect(SiteKey(routerSite: "route:[::1]:2525") == SiteKey(host: "::1", port: 2525))
        for bad in ["", "mx:", "route:host", "route::25", "smtp:host:25", "relay:host:port"] {
            #expect(SiteKey(routerSite: bad) == nil, "\(bad)")
        }
    }
}
