@testable import Campaigns
import Delivery
import MailMessage
import Testing

/// The record parsers and the pure checks of `salvo doctor`, fed DNS answers as values.
@Suite struct DoctorRecordTests {
    @Test func addressesReverseAndMatchNetworks() {
        let v4 = IPAddress("192.0.2.10")!
        #expect(v4.reverseName == "10.2.0.192.in-addr.arpa")
        #expect(BlocklistCheck.queryName(v4, zone: "zen.spamhaus.org") == "10.2.0.192.zen.spamhaus.org")
        let v6 = IPAddress("2001:db8::1")!
        #expect(v6.reverseName == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
        #expect(IPAddress("::ffff:192.0.2.10") == v4)
        #expect(v4.isIn(IPAddress("192.0.2.0")!, prefix: 28))
        #expect(!v4.isIn(IPAddress("192.0.2.16")!, prefix: 28))
        #expect(v4.isIn(IPAddress("0.0.0.0")!, prefix: 0))
        #expect(IPAddress("10.1.2.3")!.isInternal && IPAddress("fe80::1")!.isInternal && IPAddress("::1")!.isInternal)
        #expect(!v4.isInternal && !v6.isInternal)
        #expect(IPAddress("mail.shop.test") == nil && IPAddress("192.0.2") == nil)
    }

    @Test func tagListsAndDMARCRecords() throws {
        #expect(DNSTagList("v=DKIM1; k=rsa; p=AB CD;")?["p"] == "AB CD")
        #expect(DNSTagList("v=DKIM1; p") == nil)
        #expect(DNSTagList("p=a; p=b") == nil)
        let record = try DMARCRecord("v=DMARC1; p=quarantine; sp=reject; adkim=s; pct=50; rua=mailto:d@shop.test")
        #expect(record.policy == .quarantine && record.subdomainPolicy == .reject && record.dkimAlignment == .strict
                && record.spfAlignment == .relaxed && record.percent == 50 && record.reportTo == "mailto:d@shop.test")
        #expect(throws: DMARCRecordError("has no p= (none, quarantine or reject)")) { try DMARCRecord("v=DMARC1; rua=mailto:d@shop.test") }
        #expect(throws: DMARCRecordError("p=block is not none, quarantine or reject")) { try DMARCRecord("v=DMARC1; p=block") }
        #expect(throws: DMARCRecordError("does not start with v=DMARC1")) { try DMARCRecord("p=none; v=DMARC1") }
    }

    @Test func alignmentRelaxedAndStrict() {
        #expect(DMARCAlignment.of("shop.test", with: "shop.test", mode: .strict) == .aligned)
        #expect(DMARCAlignment.of("bounces.shop.test", with: "shop.test", mode: .relaxed) == .aligned)
        #expect(DMARCAlignment.of("bounces.shop.test", with: "shop.test", mode: .strict) == .notAligned)
        #expect(DMARCAlignment.of("a.shop.test", with: "b.shop.test", mode: .relaxed) == .sharedParent("shop.test"))
        #expect(DMARCAlignment.of("esp.test", with: "shop.test", mode: .relaxed) == .notAligned)
    }

    @Test func dmarcFindingsSayPolicyAndAlignment() {
        let good = DMARCCheck.findings(fromDomain: "shop.test", answer: .success(["v=DMARC1; p=reject"]), parent: nil,
                                       dkimDomain: "shop.test", bounceDomain: "bounces.shop.test")
        #expect(good.map(\.status) == [.ok, .ok, .ok])
        #expect(good[0].found.contains("p=reject"))
        let missing = DMARCCheck.findings(fromDomain: "shop.test", answer: .failure(.noSuchDomain("_dmarc.shop.test")), parent: nil,
                                          dkimDomain: "shop.test", bounceDomain: "shop.test")
        #expect(missing.map(\.status) == [.fail])
        #expect(missing[0].fix?.hasPrefix(#"publish _dmarc.shop.test TXT "v=DMARC1; p=none"#) == true)
        // Signed by the provider's domain and bounced to it: nothing aligns.
        let unaligned = DMARCCheck.findings(fromDomain: "shop.test", answer: .success(["v=DMARC1; p=none"]), parent: nil,
                                            dkimDomain: "esp.test", bounceDomain: "bounce.esp.test")
        #expect(unaligned.map(\.status) == [.ok, .fail, .fail])
        // One aligned identifier is enough for DMARC; the other is a warning.
        let oneAligned = DMARCCheck.findings(fromDomain: "shop.test", answer: .success(["v=DMARC1; p=none"]), parent: nil,
                                             dkimDomain: "shop.test", bounceDomain: "bounce.esp.test")
        #expect(oneAligned.map(\.status) == [.ok, .ok, .warn])
        // A subdomain without a record of its own inherits the organizational domain's sp=.
        let inherited = DMARCCheck.findings(fromDomain: "news.shop.test", answer: .failure(.noSuchDomain("_dmarc.news.shop.test")),
                                            parent: ("_dmarc.shop.test", .success(["v=DMARC1; p=none; sp=reject"])),
                                            dkimDomain: "shop.test", bounceDomain: "news.shop.test")
        #expect(inherited[0].found.contains("p=reject") && inherited[0].found.contains("inherited from _dmarc.shop.test"))
    }

    @Test func dkimRecordMatchesTheConfiguredKey() throws {
        let key = try DKIMKey.generate(.ed25519)
        let other = try DKIMKey.generate(.ed25519)
        let name = "s1._domainkey.shop.test"
        let published = DKIMRecordCheck.finding(name: name, answer: .success(["some-verification=1", key.dnsRecord]), key: .success(key))
        #expect(published.status == .ok, "\(published)")
        // The same key split into strings and spaced differently is the same key.
        let spaced = "v=DKIM1;k=ed25519; p=" + key.publicKeyBase64.prefix(10) + " " + key.publicKeyBase64.dropFirst(10)
        #expect(DKIMRecordCheck.finding(name: name, answer: .success([spaced]), key: .success(key)).status == .ok)
        let wrong = DKIMRecordCheck.finding(name: name, answer: .success([other.dnsRecord]), key: .success(key))
        #expect(wrong.status == .fail && wrong.found.contains("not the public half"))
        #expect(wrong.fix == "publish \(name) TXT \"\(key.dnsRecord)\"")
        let revoked = DKIMRecordCheck.finding(name: name, answer: .success(["v=DKIM1; k=ed25519; p="]), key: .success(key))
        #expect(revoked.status == .fail && revoked.found.contains("revoked"))
        let rsaRecord = DKIMRecordCheck.finding(name: name, answer: .success(["v=DKIM1; p=\(key.publicKeyBase64)"]), key: .success(key))
        #expect(rsaRecord.status == .fail && rsaRecord.found.contains("k=rsa"))
        let missing = DKIMRecordCheck.finding(name: name, answer: .failure(.noSuchDomain(name)), key: .success(key))
        #expect(missing.status == .fail && missing.fix != nil)
        let testing = DKIMRecordCheck.finding(name: name, answer: .success([key.dnsRecord + "; t=y"]), key: .success(key))
        #expect(testing.status == .warn)
        let unreadable = DKIMRecordCheck.finding(name: name, answer: .success([key.dnsRecord]), key: .failure(.missingFile("keys/s1.pem")))
        #expect(unreadable.status == .fail && unreadable.found.contains("keys/s1.pem"))
    }

    @Test func blocklistAnswers() {
        #expect(BlocklistCheck.finding("192.0.2.10", zone: "zen.test", answer: .failure(.noSuchDomain("x"))).status == .ok)
        let listed = BlocklistCheck.finding("192.0.2.10", zone: "zen.test", answer: .success(["127.0.0.2", "127.0.0.4"]))
        #expect(listed.status == .fail && listed.found == "192.0.2.10 is listed on zen.test (127.0.0.2, 127.0.0.4)")
        let refused = BlocklistCheck.finding("192.0.2.10", zone: "zen.test", answer: .success(["127.255.255.254"]))
        #expect(refused.status == .warn && refused.found.contains("refused"))
        let rewritten = BlocklistCheck.finding("192.0.2.10", zone: "zen.test", answer: .success(["198.51.100.7"]))
        #expect(rewritten.status == .warn && rewritten.found.contains("not a blocklist code"))
        #expect(BlocklistCheck.finding("192.0.2.10", zone: "zen.test", answer: .failure(.temporary("x", reason: "SERVFAIL"))).status == .warn)
    }

    @Test func hostNamesAndReverseDNS() {
        let address = IPAddress("192.0.2.10")!
        #expect(HostChecks.ehlo("mail.shop.test", source: "helo", answer: .success(["192.0.2.10"])).status == .ok)
        #expect(HostChecks.ehlo("mailhost", source: "helo", answer: .success(["192.0.2.10"])).status == .fail)
        #expect(HostChecks.ehlo("192.0.2.10", source: "helo", answer: .success([])).status == .fail)
        #expect(HostChecks.ehlo("mail.shop.test", source: "helo", answer: .failure(.noSuchDomain("mail.shop.test"))).status == .fail)
        let confirmed = HostChecks.reverseDNS(of: address, ehlo: "mail.shop.test", ptr: .success(["mail.shop.test"]),
                                              forward: ["mail.shop.test": .success(["192.0.2.10"])])
        #expect(confirmed.status == .ok)
        let notBack = HostChecks.reverseDNS(of: address, ehlo: "mail.shop.test", ptr: .success(["mail.shop.test"]),
                                            forward: ["mail.shop.test": .success(["192.0.2.99"])])
        #expect(notBack.status == .fail && notBack.found.contains("does not resolve back"))
        let otherName = HostChecks.reverseDNS(of: address, ehlo: "mail.shop.test", ptr: .success(["host-10.provider.test"]),
                                              forward: ["host-10.provider.test": .success(["192.0.2.10"])])
        #expect(otherName.status == .warn && otherName.fix?.hasPrefix("set helo: host-10.provider.test") == true)
        #expect(HostChecks.reverseDNS(of: address, ehlo: "mail.shop.test", ptr: .failure(.noSuchDomain("x")), forward: [:]).status == .fail)
        #expect(HostChecks.bounceMX("shop.test", verp: false, answer: .success(.nullMX(ttl: 0))).status == .fail)
        #expect(HostChecks.bounceMX("shop.test", verp: false, answer: .success(.implicit)).status == .warn)
        #expect(HostChecks.bounceMX("shop.test", verp: true, answer: .success(.exchanges([MXRecord(preference: 10, exchange: "mx.shop.test")], ttl: 0))).status == .ok)
    }

    @Test func thePlanSaysWhereEachPartCameFrom() throws {
        var configuration = SalvoConfiguration()
        configuration.helo = "mail.shop.test"
        let machine = ["127.0.0.1", "10.0.0.5", "fe80::1", "192.0.2.10"].compactMap(IPAddress.init)
        let campaigns = [DoctorPlan.CampaignLinks(from: "Shop <news@Shop.test>", linkHosts: ["links.shop.test"]),
                         DoctorPlan.CampaignLinks(from: "other@other.test", linkHosts: ["other-links.test"])]
        let plan = try DoctorPlan(configuration: configuration, domain: nil, campaigns: campaigns, dkimKey: nil, machineAddresses: machine)
        #expect(plan.fromDomains == ["shop.test", "other.test"])
        #expect(plan.sendingIPs == [IPAddress("192.0.2.10")!])
        #expect(plan.ipSource.contains("this machine"))
        #expect(plan.notes.contains { $0.contains("10.0.0.5, fe80::1") })
        #expect(plan.listedDomains == ["shop.test", "other.test", "links.shop.test", "other-links.test"])
        let one = try DoctorPlan(configuration: configuration, domain: "Shop.Test", campaigns: campaigns, dkimKey: nil, machineAddresses: machine)
        #expect(one.fromDomains == ["shop.test"] && one.listedDomains == ["shop.test", "links.shop.test"])
        #expect(throws: DoctorPlan.Failure.self) { try DoctorPlan(configuration: configuration, domain: nil, campaigns: [], dkimKey: nil, machineAddresses: machine) }
        #expect(DoctorPlan.linkHosts(in: #"<a href="https://Shop.test/a?b">x</a> <a href='http://{{host}}/x'>y</a> https://cdn.shop.test:8443/i.png"#)
                == ["shop.test", "cdn.shop.test"])
    }

    @Test func theDoctorSectionIsReadAndChecked() throws {
        let yaml = """
            doctor:
              sending_ips: [192.0.2.10, "2001:db8::25"]
              blocklists:
                ips: [zen.test]
                domains: []
            """
        let configuration = try SalvoConfiguration(yaml: YAMLValue.parse(yaml, file: "salvo.yml"))
        #expect(configuration.doctor.sendingIPs == [IPAddress("192.0.2.10")!, IPAddress("2001:db8::25")!])
        #expect(configuration.doctor.ipBlocklists == ["zen.test"] && configuration.doctor.domainBlocklists == [])
        #expect(SalvoConfiguration().doctor.ipBlocklists == ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"])
        #expect(throws: ConfigurationError(file: "salvo.yml", line: 2, key: "doctor.sending_ips[0]", message: "expected an IPv4 or IPv6 address, found 'mail.shop.test'")) {
            try SalvoConfiguration(yaml: YAMLValue.parse("doctor:\n  sending_ips: [mail.shop.test]\n", file: "salvo.yml"))
        }
    }
}
