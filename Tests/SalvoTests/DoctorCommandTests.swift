import Foundation
import Testing
import TestPeers

/// `salvo doctor` run as a user runs it, against dnsmasq on loopback (dns.server), with
/// blocklist zones that dnsmasq serves.
@Suite(.serialized) struct DoctorCommandTests {
    @Test func exitsZeroWhenNothingFailsAndOneWhenSomethingDoes() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keygen = try await SalvoBinary.run(["dkim", "keygen", "--domain", "shop.test", "--selector", "s1", "--algorithm", "ed25519"], in: dir)
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let record = try #require(keygen.stdout.split(separator: "\n").first { $0.hasPrefix("  value: ") }).dropFirst("  value: ".count)

        var lines = [
            "host-record=mail.shop.test,192.0.2.10",
            "mx-host=shop.test,mail.shop.test,10",
            #"txt-record=shop.test,"v=spf1 mx -all""#,
            "txt-record=s1._domainkey.shop.test,\"\(record)\"",
        ]
        func configure(_ port: Int) throws {
            try """
                helo: mail.shop.test
                dns:
                  server: 127.0.0.1:\(port)
                dkim:
                  domain: shop.test
                  selector: s1
                  key: keys/s1.pem
                doctor:
                  sending_ips: [192.0.2.10]
                  blocklists:
                    ips: [zen.test]
                    domains: [dbl.test]
                """.write(toFile: dir + "/salvo.yml", atomically: true, encoding: .utf8)
        }

        // No DMARC record yet: that line fails, and the command exits 1.
        var dns = try await DNSMasqPeer.start(lines, localDomains: ["test", "in-addr.arpa"])
        try configure(dns.port)
        let failing = try await SalvoBinary.run(["doctor"], in: dir)
        dns.stop()
        #expect(failing.status == 1, "\(failing.stdout)\(failing.stderr)")
        #expect(failing.stdout.contains("FAIL  DMARC  _dmarc.shop.test has no DMARC record"), "\(failing.stdout)")
        #expect(failing.stdout.contains(#"fix: publish _dmarc.shop.test TXT "v=DMARC1; p=none"#))
        #expect(failing.stdout.contains("OK    DKIM   s1._domainkey.shop.test has the configured ed25519 key"), "\(failing.stdout)")
        #expect(failing.stdout.contains("domain:      shop.test (dkim.domain)"))
        // Doctor only reads: it never creates the database.
        #expect(!FileManager.default.fileExists(atPath: dir + "/salvo.db"))

        lines.append(#"txt-record=_dmarc.shop.test,"v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.test""#)
        dns = try await DNSMasqPeer.start(lines, localDomains: ["test", "in-addr.arpa"])
        defer { dns.stop() }
        try configure(dns.port)
        let passing = try await SalvoBinary.run(["doctor", "shop.test"], in: dir)
        #expect(passing.status == 0, "\(passing.stdout)\(passing.stderr)")
        #expect(!passing.stdout.contains("FAIL ") && !passing.stdout.contains("WARN "), "\(passing.stdout)")
        #expect(passing.stdout.contains(#"OK    SPF    shop.test "v=spf1 mx -all" passes 192.0.2.10 (mx)"#), "\(passing.stdout)")
        #expect(passing.stdout.hasSuffix("10 OK, 0 WARN, 0 FAIL\n"), "\(passing.stdout)")
    }

    @Test func theStoredCampaignsNameTheDomainAndTheirLinks() async throws {
        let dns = try await DNSMasqPeer.start([
            "host-record=mail.example.com,192.0.2.10",
            "address=/example.com.dbl.test/127.0.1.2",
        ], localDomains: ["test", "com", "in-addr.arpa"])
        defer { dns.stop() }
        let dir = try await SalvoBinary.initProject(editing: [("# helo: mail.example.com", """
            helo: mail.example.com
            dns:
              server: 127.0.0.1:\(dns.port)
            doctor:
              sending_ips: [192.0.2.10]
              blocklists: { ips: [zen.test], domains: [dbl.test] }
            """)])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        let created = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(created.status == 0, "\(created.stderr)")

        let result = try await SalvoBinary.run(["doctor"], in: dir)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("domain:      example.com (the From address of the stored campaigns)"), "\(result.stdout)")
        #expect(result.stdout.contains("FAIL  DNSBL  example.com is listed on dbl.test (127.0.1.2)"), "\(result.stdout)")
        #expect(result.stdout.contains("WARN  DKIM   no dkim section"), "\(result.stdout)")
    }

    @Test func noDomainToCheckIsOneClearLine() async throws {
        let dir = try await SalvoBinary.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "helo: mail.shop.test\ndns:\n  server: 127.0.0.1:9\n".write(toFile: dir + "/salvo.yml", atomically: true, encoding: .utf8)
        let result = try await SalvoBinary.run(["doctor"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr == "salvo doctor: no domain to check: name one (salvo doctor shop.example), or configure dkim.domain, or create a campaign\n")
    }
}
