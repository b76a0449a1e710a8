import NIOCore
import SMTP
import TestPeers
import Testing

/// `SMTPConnection` against the aiosmtpd peer (Tests/peers/smtp_peer.py): TLS, AUTH,
/// per-recipient replies, 421 and STARTTLS injection. Each test checks what the server
/// recorded, not only what the client says.
@Suite(.serialized) struct AiosmtpdPeerTests {
    /// Lines that start with dots, a lone dot, an empty line: all must survive stuffing.
    static let message = "From: news@shop.test\r\nTo: a@x.test\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n\r\n...\r\nlast line\r\n"

    static func configuration(
        tls: SMTPConfiguration.TLSPolicy = .none,
        verification: SMTPConfiguration.CertificateVerification = .verify,
        caFile: String? = nil,
        credentials: SMTPCredentials? = nil,
        allowPlaintextAuth: Bool = false
    ) -> SMTPConfiguration {
        SMTPConfiguration(heloName: "client.salvo.test", tls: tls, certificateVerification: verification, caFile: caFile,
                          credentials: credentials, allowPlaintextAuth: allowPlaintextAuth, timeouts: .uniform(.seconds(20)))
    }

    static func transaction(_ recipients: [String]) -> SMTPTransaction {
        SMTPTransaction(mailFrom: "news@shop.test", recipients: recipients, message: ByteBuffer(string: message))
    }

    func expectError(_ code: SMTPError.Code, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await body()
            Issue.record("no error, expected \(code)", sourceLocation: sourceLocation)
        } catch let error as SMTPError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func startTLSVerifiedAgainstTheTestCAThenByteIdenticalMessage() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile])
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(
            host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .required, caFile: certificates.caFile))
        let tls = try #require(connection.tls)
        #expect(tls.verified)
        #expect(tls.verificationFailure == nil)
        #expect(tls.version == "TLSv1.3")
        #expect(tls.cipher?.hasPrefix("TLS_") == true)
        #expect(tls.peerCertificate?.commonName == "localhost")
        #expect(tls.peerCertificate?.alternativeNames.contains("127.0.0.1") == true)
        #expect(!tls.implicit)
        let result = try await connection.send(Self.transaction(["a@x.test"]))
        #expect(result.messageAccepted)
        await connection.quit()

        let messages = try peer.messages()
        #expect(messages.count == 1)
        #expect(messages.first?.bytes == Array(Self.message.utf8))
        #expect(messages.first?.mail_from == "news@shop.test")
        #expect(messages.first?.rcpt_tos == ["a@x.test"])
        #expect(messages.first?.mail_options == ["SIZE=\(Self.message.utf8.count)", "BODY=8BITMIME"])
        let ehlos = try peer.events().filter { $0.event == "ehlo" }
        #expect(ehlos.map(\.tls) == [false, true], "EHLO again after STARTTLS")
    }

    @Test func untrustedCertificateFailsVerificationButIsRecordedWhenOpportunistic() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile])
        defer { peer.stop() }
        await expectError(.certificateNotTrusted) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .required))
        }
        let connection = try await SMTPConnection.connect(
            host: "127.0.0.1", port: peer.port, configuration: .mx(heloName: "client.salvo.test"))
        let tls = try #require(connection.tls)
        #expect(!tls.verified)
        #expect(tls.verificationFailure != nil)
        #expect(try await connection.send(Self.transaction(["a@x.test"])).messageAccepted)
        await connection.quit()
        #expect(try peer.messages().count == 1)
    }

    @Test func implicitTLS() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile, "--implicit-tls"])
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(
            host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .implicit, caFile: certificates.caFile))
        #expect(connection.tls?.implicit == true)
        #expect(connection.tls?.verified == true)
        #expect(!connection.capabilities.startTLS)
        #expect(try await connection.send(Self.transaction(["a@x.test", "b@x.test"])).messageAccepted)
        await connection.quit()
        #expect(try peer.messages().map(\.rcpt_tos) == [["a@x.test", "b@x.test"]])
    }

    @Test(arguments: ["PLAIN", "LOGIN"])
    func authenticatesOverSTARTTLS(mechanism: String) async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start([
            "--cert", certificates.certificateFile, "--key", certificates.keyFile,
            "--user", "news@shop.test", "--password", "s3cret", "--auth-mechanisms", mechanism,
        ])
        defer { peer.stop() }
        let configuration = Self.configuration(tls: .required, caFile: certificates.caFile,
                                               credentials: SMTPCredentials(username: "news@shop.test", password: "s3cret"))
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: configuration)
        #expect(try await connection.send(Self.transaction(["a@x.test"])).messageAccepted)
        await connection.quit()
        let auths = try peer.events().filter { $0.event == "auth" }
        #expect(auths.map(\.mechanism) == [mechanism])
        #expect(auths.map(\.success) == [true])
        #expect(auths.map(\.login) == ["news@shop.test"])
        #expect(try peer.messages().count == 1)

        await expectError(.authenticationFailed) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(
                tls: .required, caFile: certificates.caFile, credentials: SMTPCredentials(username: "news@shop.test", password: "wrong")))
        }
    }

    @Test func noCredentialsOverClearTextUnlessAllowed() async throws {
        let peer = try await PythonSMTPPeer.start(["--user", "u", "--password", "p", "--allow-plaintext-auth"])
        defer { peer.stop() }
        await expectError(.plaintextAuthRefused) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(
                tls: .opportunistic, credentials: SMTPCredentials(username: "u", password: "p")))
        }
        #expect(try peer.events().filter { $0.event == "auth" }.isEmpty, "credentials must not leave in clear text")

        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(
            tls: .none, credentials: SMTPCredentials(username: "u", password: "p"), allowPlaintextAuth: true))
        #expect(!connection.isTLSActive)
        await connection.quit()
        #expect(try peer.events().filter { $0.event == "auth" }.map(\.success) == [true])
    }

    @Test func requiredTLSWithoutSTARTTLSIsAClearErrorNotADowngrade() async throws {
        let peer = try await PythonSMTPPeer.start()
        defer { peer.stop() }
        await expectError(.tlsRequiredButNotOffered) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .required))
        }
        let events = try peer.events().map(\.event)
        #expect(!events.contains("mail"))
        // Opportunistic goes on in clear text.
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .opportunistic))
        #expect(connection.tls == nil)
        await connection.quit()
    }

    @Test func plaintextInjectedAfterSTARTTLSReplyIsRefused() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile, "--inject-after-starttls"])
        defer { peer.stop() }
        await expectError(.unencryptedDataAfterStartTLS) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: .mx(heloName: "client.salvo.test"))
        }
        // Whether the peer has seen the disconnect yet is a matter of timing: leave it out.
        let events = try peer.events().map(\.event).filter { $0 != "disconnect" }
        #expect(events == ["connect", "ehlo", "starttls"])
    }

    @Test(arguments: [false, true])
    func someRecipientsAcceptedOthersRefused(pipelining: Bool) async throws {
        let peer = try await PythonSMTPPeer.start(pipelining ? ["--pipelining"] : [])
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration())
        #expect(connection.capabilities.pipelining == pipelining)
        let result = try await connection.send(Self.transaction(["a@x.test", "temp-b@x.test", "perm-c@x.test", "d@x.test"]))
        #expect(result.recipients.map(\.status) == [.accepted, .temporaryFailure, .permanentFailure, .accepted])
        #expect(result.recipients.map(\.reply.code) == [250, 451, 550, 250])
        #expect(result.recipients[1].reply.enhancedCode?.description == "4.2.0")
        #expect(result.recipients[2].reply.text == "no such user")
        #expect(result.recipients[0].reply.text == "queued as M1")

        // Nobody accepted: RSET, and the connection goes on.
        let refused = try await connection.send(Self.transaction(["perm-x@x.test"]))
        #expect(refused.recipients.map(\.status) == [.permanentFailure])
        let third = try await connection.send(Self.transaction(["e@x.test"]))
        #expect(third.messageAccepted)
        #expect(connection.transactionCount == 3)
        await connection.quit()

        let messages = try peer.messages()
        #expect(messages.map(\.rcpt_tos) == [["a@x.test", "d@x.test"], ["e@x.test"]])
        #expect(messages.allSatisfy { $0.bytes == Array(Self.message.utf8) })
        #expect(Set(messages.map(\.session)) == [1], "one connection for every transaction")
        #expect(try peer.events().filter { $0.event == "rset" }.count == 1)
    }

    @Test func a421MidSessionClosesTheConnection() async throws {
        let peer = try await PythonSMTPPeer.start()
        defer { peer.stop() }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration())
        let result = try await connection.send(Self.transaction(["a@x.test", "close-b@x.test", "c@x.test"]))
        #expect(result.recipients.map(\.status) == [.temporaryFailure, .temporaryFailure, .temporaryFailure])
        #expect(result.recipients.map(\.reply.code) == [421, 421, 421])
        #expect(result.recipients[0].rcptReply?.code == 250)
        #expect(!connection.isUsable)
        await expectError(.connectionNotUsable) { _ = try await connection.send(Self.transaction(["d@x.test"])) }
        #expect(try peer.messages().isEmpty)
        #expect(try peer.events().filter { $0.event == "rcpt" }.map(\.address) == ["a@x.test", "close-b@x.test"])
    }
    @Test func refusedSTARTTLSGoesOnInClearTextOnlyWhenOpportunistic() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile, "--starttls-refuse"])
        defer { peer.stop() }
        await expectError(.startTLSRefused) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .required))
        }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: .mx(heloName: "client.salvo.test"))
        #expect(connection.tls == nil)
        #expect(connection.startTLSWasRefused)
        #expect(try await connection.send(Self.transaction(["a@x.test"])).messageAccepted)
        await connection.quit()
        #expect(try peer.events().filter { $0.event == "mail" }.count == 1, "nothing was sent by the session that required TLS")
    }
    /// The certificate names mx.peer.test only (no IP address: NIOSSL accepts an IP
    /// subjectAltName matching the connected address whatever name was expected).
    @Test func certificateForAnotherNameIsRefusedOrRecorded() async throws {
        let certificates = try TestCertificates.make(subjectAltNames: "DNS:mx.peer.test")
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile])
        defer { peer.stop() }
        var configuration = Self.configuration(tls: .required, caFile: certificates.caFile)
        configuration.tlsServerName = "mx.peer.test"
        let named = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: configuration)
        #expect(named.tls?.verified == true)
        await named.quit()

        configuration.tlsServerName = "mx.other.test"
        await expectError(.certificateNotTrusted) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: configuration)
        }
        configuration.certificateVerification = .recordOnly
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: configuration)
        #expect(connection.tls?.verified == false)
        #expect(connection.tls?.verificationFailure == "certificate does not name mx.other.test")
        await connection.quit()
    }
    @Test func brokenTLSFallsBackToClearTextOnlyWhenOpportunistic() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let peer = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile, "--starttls-break"])
        defer { peer.stop() }
        await expectError(.tlsHandshakeFailed) {
            _ = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: Self.configuration(tls: .required))
        }
        let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: peer.port, configuration: .mx(heloName: "client.salvo.test"))
        #expect(connection.tls == nil && connection.tlsVersion == nil && connection.certificateVerified == nil)
        #expect(connection.opportunisticTLSFailure?.code == .tlsHandshakeFailed)
        #expect(try await connection.send(Self.transaction(["a@x.test"])).messageAccepted)
        await connection.quit()
        let sessions = try peer.events().filter { $0.event == "connect" }.count
        #expect(sessions == 3, "required: one session; opportunistic: TLS attempt, then clear text")
        #expect(try peer.messages().map(\.session) == [3])
    }
}
