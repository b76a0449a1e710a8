import SMTP
import TestPeers
import Testing

/// What `salvo check-smtp` prints comes from `SMTPProbe`, tested here against real peers.
@Suite(.serialized) struct SMTPProbeTests {
    @Test func parsesServerAddresses() {
        #expect(SMTPProbe.parseAddress("mx.example.test", defaultPort: 25)! == ("mx.example.test", 25))
        #expect(SMTPProbe.parseAddress("127.0.0.1:2525", defaultPort: 25)! == ("127.0.0.1", 2525))
        #expect(SMTPProbe.parseAddress("[::1]:587", defaultPort: 25)! == ("::1", 587))
        #expect(SMTPProbe.parseAddress("[::1]", defaultPort: 465)! == ("::1", 465))
        #expect(SMTPProbe.parseAddress("host:0", defaultPort: 25) == nil)
        #expect(SMTPProbe.parseAddress("host:x", defaultPort: 25) == nil)
        #expect(SMTPProbe.parseAddress("", defaultPort: 25) == nil)
    }

    @Test func reportsTLSAndAnUnverifiedCertificateWithoutFailing() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile])
        defer { peer.stop() }
        let configuration = SMTPConfiguration(heloName: "probe.salvo.test", tls: .required, timeouts: .uniform(.seconds(20)))
        let unverified = try await SMTPProbe.run(host: "127.0.0.1", port: peer.port, configuration: configuration)
        #expect(unverified.report.contains("greeting:     220 peer.test"))
        #expect(unverified.report.contains("tls:          TLSv1.3 (STARTTLS)"))
        #expect(unverified.report.contains("cipher:       TLS_"))
        #expect(unverified.report.contains("certificate:  CN=localhost"))
        #expect(unverified.report.contains("verified:     no ("))

        var trusting = configuration
        trusting.caFile = certificates.caFile
        let verified = try await SMTPProbe.run(host: "127.0.0.1", port: peer.port, configuration: trusting)
        #expect(verified.report.contains("verified:     yes"))
        #expect(!verified.capabilities.startTLS, "capabilities are those of the EHLO after TLS")
        #expect(try peer.events().filter { $0.event == "quit" }.count == 2)
    }

    @Test func reportsAPlainServer() async throws {
        let sink = try await SMTPSinkPeer.start(dump: false)
        defer { sink.stop() }
        let probe = try await SMTPProbe.run(host: "127.0.0.1", port: sink.port,
                                           configuration: SMTPConfiguration(heloName: "probe.salvo.test", tls: .none))
        #expect(probe.report.contains("  PIPELINING"))
        #expect(probe.report.contains("tls:          none"))
        #expect(probe.tls == nil)
    }
}
