@testable import Campaigns
import Foundation
import SMTP
import Testing
import TestPeers

/// `delivery.tls: verify`, `delivery.ca_file` and the mapping form of a route: what each
/// level asks of the SMTP session, and against a real STARTTLS server with a test CA.
@Suite struct TLSLevelTests {
    func load(_ text: String) throws -> SalvoConfiguration { try ConfigurationText.load(text) }

    @Test func levelsMapToPolicyAndVerification() throws {
        let cases: [(String, SMTPConfiguration.TLSPolicy, SMTPConfiguration.CertificateVerification)] = [
            ("none", .none, .recordOnly), ("opportunistic", .opportunistic, .recordOnly),
            ("required", .required, .recordOnly), ("verify", .required, .verify),
        ]
        for (level, policy, verification) in cases {
            let session = try load("delivery: { tls: \(level), ca_file: certs/ca.pem }\n").mxSession()
            #expect(session.tls == policy, "\(level)")
            #expect(session.certificateVerification == verification, "\(level)")
            #expect(session.caFile == (level == "verify" ? "/etc/salvo/certs/ca.pem" : nil), "\(level)")
        }
    }

    @Test func routesTakeAMappingWithTheirOwnTLS() throws {
        let configuration = try load("""
            delivery:
              tls: opportunistic
              routes:
                plain.test: 127.0.0.1:2525
                Secure.Test: { to: "mx.secure.test:2526", tls: verify, ca_file: secure-ca.pem }
                "*": { to: 127.0.0.1 }
            """)
        #expect(configuration.delivery.routes["plain.test"] == .init(host: "127.0.0.1", port: 2525))
        #expect(configuration.delivery.routes["secure.test"] == .init(host: "mx.secure.test", port: 2526))
        #expect(configuration.delivery.routes["*"] == .init(host: "127.0.0.1", port: 25))
        let secure = configuration.routeSession(domain: "secure.test")
        #expect(secure.tls == .required && secure.certificateVerification == .verify)
        #expect(secure.caFile == "/etc/salvo/secure-ca.pem")
        let plain = configuration.routeSession(domain: "plain.test")
        #expect(plain.tls == .opportunistic && plain.certificateVerification == .recordOnly)
    }

    @Test(arguments: [
        ("delivery:\n  tls: strict\n", "/etc/salvo/salvo.yml:2: delivery.tls: expected one of opportunistic | required | verify | none, found 'strict'"),
        ("delivery:\n  routes:\n    a.test: { tls: verify }\n", "/etc/salvo/salvo.yml:3: delivery.routes.a.test: needs to: host:port"),
        ("delivery:\n  routes:\n    a.test: { to: 127.0.0.1, tls: always }\n", "/etc/salvo/salvo.yml:3: delivery.routes.a.test.tls: expected one of"),
        ("delivery:\n  routes:\n    a.test: { to: 127.0.0.1, cafile: x }\n", "/etc/salvo/salvo.yml:3: delivery.routes.a.test.cafile: unknown key (expected one of: to, tls, ca_file)"),
    ])
    func errorsNameFileLineAndKey(text: String, expected: String) {
        ConfigurationText.expectRefused(text, expected)
    }

    /// The same server and certificate under each level: `required` encrypts and records
    /// that the certificate is not trusted; `verify` refuses it without the CA and trusts
    /// it with `ca_file`.
    @Test func verifyChecksTheCertificateRequiredOnlyRecordsIt() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile])
        defer { peer.stop() }
        func session(_ yaml: String) throws -> SMTPConfiguration {
            var configuration = try SalvoConfiguration(yaml: YAMLValue.parse("helo: client.salvo.test\n" + yaml, file: "/tmp/salvo.yml")).mxSession()
            configuration.timeouts = .uniform(.seconds(20))
            return configuration
        }

        let required = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: session("delivery: { tls: required }\n"))
        #expect(required.tlsVersion?.hasPrefix("TLSv1.") == true)
        #expect(required.certificateVerified == false)
        #expect(required.tls?.verificationFailure != nil)
        await required.quit()

        do {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: session("delivery: { tls: verify }\n"))
            Issue.record("an untrusted certificate was accepted under verify")
        } catch let error as SMTPError {
            #expect(error.code == .certificateNotTrusted, "\(error)")
            #expect(error.description.contains("system trust store"), "\(error)")
        }

        let verified = try await SMTPConnection.connect(
            host: "127.0.0.1", port: peer.port, configuration: session("delivery: { tls: verify, ca_file: \(certificates.caFile) }\n"))
        #expect(verified.certificateVerified == true)
        await verified.quit()
        #expect(try peer.events().filter { $0.event == "ehlo" && $0.tls == true }.count == 2, "both trusted sessions went on inside TLS")
    }
}
