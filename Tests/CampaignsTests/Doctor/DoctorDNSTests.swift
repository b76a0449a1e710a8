@testable import Campaigns
import Delivery
import Foundation
import MailMessage
import Testing
import TestPeers

/// `salvo doctor`'s checks against dnsmasq on loopback: the configuration points
/// `dns.server` at it and every blocklist zone is one it serves, so nothing is looked
/// up anywhere else.
@Suite(.serialized) struct DoctorDNSTests {
    /// A sender that has done everything right: shop.test, sending from 192.0.2.10 as
    /// mail.shop.test.
    struct Zone {
        var key: DKIMKey
        var lines: [String]

        init(key: DKIMKey) {
            self.key = key
            lines = [
                "host-record=mail.shop.test,192.0.2.10",  // A and PTR
                "mx-host=shop.test,mx.shop.test,10",
                "host-record=mx.shop.test,192.0.2.20",
                #"txt-record=shop.test,"v=spf1 include:_spf.shop.test mx -all""#,
                #"txt-record=_spf.shop.test,"v=spf1 ip4:192.0.2.0/28 -all""#,
                #"txt-record=_dmarc.shop.test,"v=DMARC1; p=reject; rua=mailto:dmarc@shop.test""#,
                "txt-record=s1._domainkey.shop.test,\"\(key.dnsRecord)\"",
            ]
        }

        func without(_ prefix: String) -> Zone {
            var zone = self
            zone.lines.removeAll { $0.hasPrefix(prefix) }
            return zone
        }

        func with(_ line: String) -> Zone {
            var zone = self
            zone.lines.append(line)
            return zone
        }
    }

    /// Runs the checks for shop.test with the configuration a test folder holds.
    func doctor(_ zone: Zone, extraYAML: String = "") async throws -> DoctorReport {
        let dns = try await DNSMasqPeer.start(zone.lines, localDomains: ["test", "in-addr.arpa"])
        defer { dns.stop() }
        let folder = try TestPeers.makeTemporaryDirectory("doctor")
        defer { try? FileManager.default.removeItem(at: folder) }
        try zone.key.pemRepresentation.write(to: folder.appendingPathComponent("s1.pem"), atomically: true, encoding: .utf8)
        let yaml = """
            helo: mail.shop.test
            dns:
              server: 127.0.0.1:\(dns.port)
            dkim:
              domain: shop.test
              selector: s1
              key: s1.pem
            doctor:
              sending_ips: [192.0.2.10]
              blocklists:
                ips: [zen.test, bl.test]
                domains: [dbl.test]
            \(extraYAML)
            """
        let file = folder.appendingPathComponent("salvo.yml").path
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let configuration = try SalvoConfiguration.load(path: file)
        let plan = try DoctorPlan.load(configuration: configuration, domain: nil, databasePath: folder.appendingPathComponent("salvo.db").path)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("salvo.db").path), "doctor created a database")
        var doctor = Doctor(configuration: configuration)
        doctor.resolver.timeout = 1
        doctor.resolver.attempts = 1
        return await doctor.run(plan)
    }

    func lines(_ report: DoctorReport, _ check: String) -> [DoctorFinding] {
        report.findings.filter { $0.check == check }
    }

    @Test func correctRecordsAreOKEverywhere() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)))
        #expect(report.findings.allSatisfy { $0.status == .ok }, "\(report.text)")
        #expect(!report.failed)
        #expect(Set(report.findings.map(\.check)) == ["DKIM", "SPF", "DMARC", "MX", "EHLO", "PTR", "DNSBL"])
        #expect(lines(report, "SPF").first?.found.contains("include:_spf.shop.test > ip4:192.0.2.0/28") == true, "\(report.text)")
        #expect(lines(report, "PTR").first?.found == "192.0.2.10 -> mail.shop.test -> 192.0.2.10, the EHLO name")
        #expect(lines(report, "DNSBL").count == 3)  // two IP zones, one domain zone
        #expect(report.context.contains("sending IPs: 192.0.2.10 (doctor.sending_ips)"))
    }

    @Test func anRSAKeyIsComparedToo() async throws {
        let key = try DKIMKey.generate(.rsa)
        let report = try await doctor(Zone(key: key))
        // A 2048-bit key's record is longer than one TXT string: dnsmasq splits it.
        #expect(lines(report, "DKIM").map(\.status) == [.ok], "\(report.text)")
    }

    @Test func aMissingDMARCFails() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)).without("txt-record=_dmarc."))
        let dmarc = lines(report, "DMARC")
        #expect(dmarc.map(\.status) == [.fail], "\(report.text)")
        #expect(dmarc.first?.found == "_dmarc.shop.test has no DMARC record: Gmail and Yahoo require one of bulk senders")
        #expect(dmarc.first?.fix?.hasPrefix(#"publish _dmarc.shop.test TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@shop.test""#) == true)
        #expect(report.failed)
    }

    @Test func aWrongDKIMKeyFails() async throws {
        let configured = try DKIMKey.generate(.ed25519)
        var zone = Zone(key: try DKIMKey.generate(.ed25519))
        zone.key = configured  // the folder gets this key; DNS keeps the other
        let report = try await doctor(zone)
        let dkim = lines(report, "DKIM")
        #expect(dkim.map(\.status) == [.fail], "\(report.text)")
        #expect(dkim.first?.found == "s1._domainkey.shop.test: p= is not the public half of the configured ed25519 key")
        #expect(dkim.first?.fix == "publish s1._domainkey.shop.test TXT \"\(configured.dnsRecord)\"")
    }

    @Test func aListedIPAndDomainFail() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519))
            .with("address=/10.2.0.192.zen.test/127.0.0.2")
            .with("address=/shop.test.dbl.test/127.0.1.2"))
        let listed = lines(report, "DNSBL")
        #expect(listed.map(\.status) == [.fail, .ok, .fail], "\(report.text)")
        #expect(listed[0].found == "192.0.2.10 is listed on zen.test (127.0.0.2)")
        #expect(listed[1].found == "192.0.2.10 is not listed on bl.test")
        #expect(listed[2].found == "shop.test is listed on dbl.test (127.0.1.2)")
    }

    @Test func aRefusedBlocklistQueryIsAWarningNotAListing() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)).with("address=/10.2.0.192.zen.test/127.255.255.254"))
        let zen = lines(report, "DNSBL")[0]
        #expect(zen.status == .warn, "\(report.text)")
        #expect(zen.found.hasPrefix("192.0.2.10 on zen.test: the query was refused (127.255.255.254), not answered"))
        #expect(!report.failed)
    }

    @Test func anSPFThatDoesNotCoverTheIPFails() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519))
            .without("txt-record=_spf.")
            .with(#"txt-record=_spf.shop.test,"v=spf1 ip4:198.51.100.0/24 -all""#))
        let spf = lines(report, "SPF")
        #expect(spf.map(\.status) == [.fail], "\(report.text)")
        #expect(spf.first?.found == #"shop.test "v=spf1 include:_spf.shop.test mx -all" does not cover 192.0.2.10 (it ends at -all)"#)
        #expect(spf.first?.fix == #"publish shop.test TXT "v=spf1 ip4:192.0.2.10 include:_spf.shop.test mx -all""#)
    }

    @Test func twoSPFRecordsFail() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)).with(#"txt-record=shop.test,"v=spf1 a -all""#))
        let spf = lines(report, "SPF")
        #expect(spf.map(\.status) == [.fail], "\(report.text)")
        #expect(spf.first?.found.contains("2 v=spf1 records") == true)
    }

    @Test func aMissingPTRAndAnUnconfirmedOneFail() async throws {
        let missing = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)).without("host-record=mail.")
            .with("address=/mail.shop.test/192.0.2.10"))
        #expect(lines(missing, "PTR").map(\.status) == [.fail], "\(missing.text)")
        #expect(lines(missing, "PTR").first?.found == "192.0.2.10 has no PTR record: many receivers refuse mail from it")
        let unconfirmed = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)).without("host-record=mail.")
            .with("address=/mail.shop.test/192.0.2.10")
            .with("ptr-record=10.2.0.192.in-addr.arpa,host10.provider.test"))
        #expect(lines(unconfirmed, "PTR").first?.found.contains("host10.provider.test does not resolve back to 192.0.2.10") == true, "\(unconfirmed.text)")
    }

    @Test func aBounceDomainWithoutMXFails() async throws {
        let report = try await doctor(Zone(key: try DKIMKey.generate(.ed25519)), extraYAML: "verp:\n  bounce_domain: bounces.shop.test\n")
        // bounces.shop.test has no records at all: no SPF, no MX; DMARC's SPF side does
        // not pass but DKIM still aligns.
        #expect(lines(report, "MX").map(\.status) == [.fail], "\(report.text)")
        #expect(lines(report, "SPF").map(\.status) == [.fail])
        #expect(lines(report, "SPF").first?.fix == #"publish bounces.shop.test TXT "v=spf1 ip4:192.0.2.10 ~all""#)
    }
}

/// The SPF expansion's limits against dnsmasq: lookups counted across includes, void
/// lookups, macros.
@Suite(.serialized) struct SPFExpansionTests {
    func expand(_ lines: [String], _ domain: String = "shop.test") async throws -> SPFPolicy {
        let dns = try await DNSMasqPeer.start(lines)
        defer { dns.stop() }
        return await SPFExpansion.policy(of: domain, resolver: DNSResolver(server: ("127.0.0.1", dns.port), timeout: 1, attempts: 1))
    }

    let client = IPAddress("192.0.2.10")!

    @Test func aAndMXTermsUseTheirAddresses() async throws {
        let policy = try await expand([
            #"txt-record=shop.test,"v=spf1 a mx:other.test/24 -all""#,
            "host-record=shop.test,198.51.100.1",
            "mx-host=other.test,mx.other.test,10",
            "host-record=mx.other.test,192.0.2.99",
        ])
        #expect(policy.evaluate(client) == .pass(term: "mx:other.test/24"))
        #expect(policy.evaluate(IPAddress("198.51.100.1")!) == .pass(term: "a"))
        #expect(policy.evaluate(IPAddress("198.51.100.2")!) == .fail(term: "-all"))
    }

    @Test func theEleventhLookupIsAPermerror() async throws {
        var lines = [#"txt-record=shop.test,"v=spf1 include:i1.test ip4:192.0.2.10 -all""#]
        // A chain of eleven includes, each of the next.
        for index in 1...11 {
            lines.append(#"txt-record=i\#(index).test,"v=spf1 include:i\#(index + 1).test -all""#)
        }
        let policy = try await expand(lines)
        #expect(policy.exceedsLookupLimit)
        guard case .permerror(let reason) = policy.evaluate(client) else { Issue.record("\(policy.evaluate(client))"); return }
        #expect(reason == "include:i11.test is lookup 11, past the 10 RFC 7208 §4.6.4 allows")
    }

    @Test func aThirdVoidLookupIsAPermerror() async throws {
        let policy = try await expand([#"txt-record=shop.test,"v=spf1 a:n1.test a:n2.test a:n3.test ip4:192.0.2.10 -all""#])
        #expect(policy.evaluate(client) == .permerror("more than two lookups answered nothing (RFC 7208 §4.6.4), at a:n3.test"))
        let two = try await expand([#"txt-record=shop.test,"v=spf1 a:n1.test a:n2.test ip4:192.0.2.10 -all""#])
        #expect(two.evaluate(client) == .pass(term: "ip4:192.0.2.10"))
    }

    @Test func macrosAndExistsCannotBeTold() async throws {
        let policy = try await expand([#"txt-record=shop.test,"v=spf1 exists:%{i}._spf.shop.test -all""#])
        guard case .cannotTell(let reason) = policy.evaluate(client) else { Issue.record("\(policy.evaluate(client))"); return }
        #expect(reason.contains("exists:%{i}._spf.shop.test"))
        let findings = SPFCheck.findings(policy, addresses: [client])
        #expect(findings.map(\.status) == [.warn])
        #expect(findings[0].found.contains("cannot tell"))
    }
}
