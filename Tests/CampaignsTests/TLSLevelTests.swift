@testable import Campaigns
import Delivery
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
        // Routes to one server share its connections: they cannot ask for different TLS.
        ("delivery:\n  routes:\n    a.test: 127.0.0.1:2525\n    b.test: { to: 127.0.0.1:2525, tls: verify }\n",
         "/etc/salvo/salvo.yml:4: delivery.routes.b.test: routes to 127.0.0.1:2525 as a.test does, with other TLS settings"),
        ("delivery:\n  routes:\n    a.test: { to: 127.0.0.1, tls: verify, ca_file: a.pem }\n    b.test: { to: 127.0.0.1, tls: verify, ca_file: b.pem }\n",
         "/etc/salvo/salvo.yml:4: delivery.routes.b.test: routes to 127.0.0.1:25 as a.test does"),
    ])
    func errorsNameFileLineAndKey(text: String, expected: String) {
        ConfigurationText.expectRefused(text, expected)
    }

    /// Routes that agree on their server's TLS may share it; a `ca_file` without `verify`
    /// changes nothing, so it is no disagreement.
    @Test func routesToOneServerMayShareItWhenTheyAgree() throws {
        let configuration = try load("""
            delivery:
              tls: required
              routes:
                a.test: 127.0.0.1:2525
                b.test: { to: 127.0.0.1:2525, tls: required, ca_file: unused.pem }
            """)
        #expect(configuration.routeSession(domain: "b.test").caFile == nil)
    }

    /// A route's own settings travel with its destination, and the one connector (the
    /// engine's and the notices') applies them over the MX settings; routes without any,
    /// and MX hosts, keep `delivery.tls`.
    @Test func theConnectorAppliesARoutesOwnTLS() async throws {
        let configuration = try load("""
            helo: client.salvo.test
            delivery:
              tls: opportunistic
              routes:
                secure.test: { to: "127.0.0.1:2526", tls: verify, ca_file: ca.pem }
                plain.test: { to: "127.0.0.1:2527", tls: none }
                other.test: 127.0.0.1:2528
            """)
        let connector = DeliveryConnector(mx: configuration.mxSession())
        func session(_ domain: String) async throws -> SMTPConfiguration {
            let route = await configuration.router().route(domain)
            guard case .deliver(_, let destinations, let via) = route, let first = destinations.first else {
                Issue.record("\(domain) routes to \(route)")
                throw CancellationError()
            }
            return connector.configuration(via: via, requireTLS: false, destination: first, address: first.addresses[0])
        }
        let secure = try await session("secure.test")
        #expect(secure.tls == .required && secure.certificateVerification == .verify && secure.caFile == "/etc/salvo/ca.pem")
        let plain = try await session("plain.test")
        #expect(plain.tls == .none)
        let other = try await session("other.test")
        #expect(other.tls == .opportunistic && other.certificateVerification == .recordOnly && other.caFile == nil)
        // A site whose limits require TLS still upgrades only what is opportunistic.
        let required = connector.configuration(via: .route, requireTLS: true,
                                               destination: Destination(host: "127.0.0.1", port: 2528, addresses: ["127.0.0.1"]),
                                               address: "127.0.0.1")
        #expect(required.tls == .required)
    }

    /// An untrusted certificate is the destination's failure over a route or towards an MX
    /// host (its site backs off), and the sender's towards the relay it chose.
    @Test func anUntrustedCertificateIsTheSendersOnlyTowardsTheRelay() {
        let error = SMTPError(.certificateNotTrusted, command: "STARTTLS", server: "127.0.0.1:2526")
        #expect(DeliveryConnector.isSenderFailure(error, via: .relay))
        #expect(!DeliveryConnector.isSenderFailure(error, via: .route))
        #expect(!DeliveryConnector.isSenderFailure(error, via: .mx))
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
