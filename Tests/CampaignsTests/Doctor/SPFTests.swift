@testable import Campaigns
import Testing

/// The SPF record parser and the evaluation of an expanded policy, without DNS.
@Suite struct SPFTests {
    typealias Resolution = SPFPolicy.Term.Resolution

    /// A policy whose ip4/ip6/all terms resolve themselves and whose other terms take
    /// the resolutions given by their text.
    func policy(_ domain: String, _ text: String, _ resolved: [String: Resolution] = [:],
                redirect: SPFPolicy.Redirect? = nil) throws -> SPFPolicy {
        let record = try SPFRecord(text)
        let terms = record.directives.map { directive -> SPFPolicy.Term in
            let resolution: Resolution
            if let given = resolved[directive.text] {
                resolution = given
            } else {
                switch directive.mechanism {
                case .all: resolution = .all
                case .ip(let address, let prefix): resolution = .networks([SPFPolicy.Network(address, prefix: prefix)])
                default: resolution = .unknowable("not resolved in this test")
                }
            }
            return SPFPolicy.Term(directive: directive, resolution: resolution)
        }
        return SPFPolicy(domain: domain, lookup: .record(record, terms: terms, redirect: redirect))
    }

    let client = IPAddress("192.0.2.10")!

    @Test func parsesEveryMechanismAndModifier() throws {
        let record = try SPFRecord("v=spf1 ip4:192.0.2.0/24 -ip6:2001:db8::/32 a ~a:mail.shop.test/28 mx/24//64 ?include:_spf.shop.test ptr exists:%{i}.x.test redirect=other.test exp=why.test -all")
        #expect(record.directives.map(\.mechanism) == [
            .ip(IPAddress("192.0.2.0")!, prefix: 24), .ip(IPAddress("2001:db8::")!, prefix: 32),
            .a(nil, v4: 32, v6: 128), .a("mail.shop.test", v4: 28, v6: 128), .mx(nil, v4: 24, v6: 64),
            .include("_spf.shop.test"), .ptr(nil), .exists("%{i}.x.test"), .all,
        ])
        #expect(record.directives.map(\.qualifier) == [.pass, .fail, .pass, .softfail, .pass, .neutral, .pass, .pass, .fail])
        #expect(record.redirect == "other.test")
        #expect(SPFRecord.isSPF("V=SPF1 -all"))
        #expect(!SPFRecord.isSPF("v=spf10 -all"))
        #expect(!SPFRecord.isSPF("google-site-verification=abc"))
    }

    @Test func invalidRecordsNameTheTerm() {
        #expect(throws: SPFRecordError("'ip4:300.1.2.3': '300.1.2.3' is not an IPv4 address")) { try SPFRecord("v=spf1 ip4:300.1.2.3 -all") }
        #expect(throws: SPFRecordError("'ip4:192.0.2.1/33': '/33' is not a prefix length of 0 to 32")) { try SPFRecord("v=spf1 ip4:192.0.2.1/33") }
        #expect(throws: SPFRecordError("'ip6:192.0.2.1': '192.0.2.1' is not an IPv6 address")) { try SPFRecord("v=spf1 ip6:192.0.2.1") }
        #expect(throws: SPFRecordError("'allow' is not an SPF mechanism")) { try SPFRecord("v=spf1 allow") }
        #expect(throws: SPFRecordError("redirect= appears twice")) { try SPFRecord("v=spf1 redirect=a.test redirect=b.test") }
    }

    @Test func theFirstMatchingTermDecides() throws {
        let refused = try policy("shop.test", "v=spf1 -ip4:192.0.2.10 ip4:192.0.2.0/24 -all")
        #expect(refused.evaluate(client) == .fail(term: "-ip4:192.0.2.10"))
        #expect(refused.evaluate(IPAddress("192.0.2.11")!) == .pass(term: "ip4:192.0.2.0/24"))
        #expect(refused.evaluate(IPAddress("198.51.100.1")!) == .fail(term: "-all"))
        #expect(try policy("shop.test", "v=spf1 ip4:198.51.100.0/24 ~all").evaluate(client) == .softfail(term: "~all"))
        #expect(try policy("shop.test", "v=spf1 ip4:198.51.100.0/24").evaluate(client) == .neutral(term: nil))
        #expect(try policy("shop.test", "v=spf1 ip6:2001:db8::/32 -all").evaluate(IPAddress("2001:db8::25")!) == .pass(term: "ip6:2001:db8::/32"))
        // An IPv4 network never covers an IPv6 client.
        #expect(try policy("shop.test", "v=spf1 ip4:0.0.0.0/0 -all").evaluate(IPAddress("2001:db8::25")!) == .fail(term: "-all"))
    }

    @Test func includesPassOnlyOnTheirPass() throws {
        let provider = try policy("_spf.provider.test", "v=spf1 ip4:192.0.2.0/28 -all")
        let shop = try policy("shop.test", "v=spf1 include:_spf.provider.test -all", ["include:_spf.provider.test": .include(provider)])
        #expect(shop.evaluate(client) == .pass(term: "include:_spf.provider.test > ip4:192.0.2.0/28"))
        #expect(shop.evaluate(IPAddress("192.0.2.200")!) == .fail(term: "-all"))
        let missing = SPFPolicy(domain: "gone.test", lookup: .none("no record"))
        let broken = try policy("shop.test", "v=spf1 include:gone.test -all", ["include:gone.test": .include(missing)])
        #expect(broken.evaluate(client) == .permerror("include:gone.test: gone.test has no SPF record"))
    }

    @Test func redirectAppliesWhenNothingMatched() throws {
        let target = try policy("spf.shop.test", "v=spf1 ip4:192.0.2.10 -all")
        let shop = try policy("shop.test", "v=spf1 ip4:198.51.100.1 redirect=spf.shop.test", redirect: .policy(target))
        #expect(shop.evaluate(client) == .pass(term: "ip4:192.0.2.10"))
        #expect(shop.evaluate(IPAddress("198.51.100.1")!) == .pass(term: "ip4:198.51.100.1"))
        #expect(shop.evaluate(IPAddress("203.0.113.1")!) == .fail(term: "-all"))
    }

    @Test func whatCannotBeKnownIsSaid() throws {
        let shop = try policy("shop.test", "v=spf1 exists:%{i}.spf.test -all", ["exists:%{i}.spf.test": .unknowable("exists:%{i}.spf.test depends on the message being checked")])
        #expect(shop.evaluate(client) == .cannotTell("exists:%{i}.spf.test depends on the message being checked"))
    }

    @Test func theLookupLimitFailsOnlyTheAddressesThatReachIt() throws {
        let shop = try policy("shop.test", "v=spf1 ip4:192.0.2.10 include:eleventh.test -all",
                              ["include:eleventh.test": .overLimit("include:eleventh.test is lookup 11")])
        #expect(shop.evaluate(client) == .pass(term: "ip4:192.0.2.10"))
        #expect(shop.evaluate(IPAddress("192.0.2.11")!) == .permerror("include:eleventh.test is lookup 11"))
        #expect(shop.exceedsLookupLimit)
        let findings = SPFCheck.findings(shop, addresses: [client])
        #expect(findings.map(\.status) == [.ok, .warn])
    }

    @Test func theSuggestedRecordAddsTheMissingAddresses() throws {
        let shop = try policy("shop.test", "v=spf1 ip4:198.51.100.0/24 -all")
        let findings = SPFCheck.findings(shop, addresses: [client, IPAddress("2001:db8::25")!])
        #expect(findings.map(\.status) == [.fail, .fail])
        #expect(findings[0].fix == #"publish shop.test TXT "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 ip4:198.51.100.0/24 -all""#)
        let none = SPFCheck.findings(SPFPolicy(domain: "shop.test", lookup: .none("no record")), addresses: [client])
        #expect(none.map(\.status) == [.fail])
        #expect(none[0].fix == #"publish shop.test TXT "v=spf1 ip4:192.0.2.10 ~all""#)
        let two = SPFCheck.findings(SPFPolicy(domain: "shop.test", lookup: .multiple(["v=spf1 -all", "v=spf1 a -all"])), addresses: [client])
        #expect(two.map(\.status) == [.fail])
        #expect(two[0].found.contains("2 v=spf1 records"))
    }
}
