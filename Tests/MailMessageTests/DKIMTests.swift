import Crypto
import Foundation
import TestPeers
import Testing
import _CryptoExtras
@testable import MailMessage

@Suite struct DKIMTests {
    static let rsaKey = try! DKIMKey.generate(.rsa)
    static let edKey = try! DKIMKey.generate(.ed25519)

    func records(_ keys: [(String, DKIMKey)]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: keys.map { ("\($0.0)._domainkey.shop.example", $0.1.dnsRecord) })
    }

    @Test(arguments: [DKIMKey.Algorithm.rsa, .ed25519])
    func dkimpyVerifiesSignedMessages(_ algorithm: DKIMKey.Algorithm) async throws {
        let key = algorithm == .rsa ? Self.rsaKey : Self.edKey
        let signer = try DKIMSigner(domain: "shop.example", selector: "s1", key: key)
        let messages = try [
            sampleMessage(),
            sampleMessage(toName: "Zoë \"Z\" Ångström", subject: "春のセール " + String(repeating: "deals ", count: 20)),
            sampleMessage(text: "  leading spaces\n\ttabs \t \n\n\n", html: nil),
            sampleMessage(text: nil, html: "<p>" + String(repeating: "long ", count: 300) + "</p>",
                          attachments: [Attachment(filename: "f.bin", contentType: "application/octet-stream", data: Array(repeating: 7, count: 4000))]),
        ].map { try signer.sign($0.serialized(), at: fixedDate).bytes }
        let verdicts = try await DKIMVerdict.verify(messages, records: records([("s1", key)]))
        for verdict in verdicts {
            #expect(verdict.ok, "\(verdict.log)")
        }
    }

    @Test func signsTheRequiredHeadersAndOversignsTheSensitiveOnes() throws {
        let signer = try DKIMSigner(domain: "shop.example", selector: "s1", key: Self.edKey)
        let field = try signer.signature(for: try sampleMessage().serialized(), at: fixedDate)
        let value = field.unfoldedValue.replacingOccurrences(of: " ", with: "")
        let h = value.components(separatedBy: ";").first { $0.hasPrefix("h=") }!.dropFirst(2).split(separator: ":")
        for name in ["from", "to", "subject", "date", "message-id", "mime-version", "content-type", "list-unsubscribe",
                     "list-unsubscribe-post", "list-id"] {
            #expect(h.filter { $0 == name }.count == 2, "\(name)")
        }
        // Feedback-ID is signed once: a second one is harmless to a reader.
        #expect(h.filter { $0 == "feedback-id" }.count <= 1)
        #expect(value.contains("a=ed25519-sha256;c=relaxed/relaxed;d=shop.example;s=s1;t=1795607231;"))
        for line in field.bytes.split(separator: 10) { #expect(line.count <= 80) }
    }

    /// A Reply-To, Content-Type, MIME-Version or List-Id added on the way (a second one,
    /// or a first one where the message had none) breaks the signature: each is named in
    /// h= once more than it occurs.
    @Test func aHeaderAddedInTransitBreaksTheSignature() async throws {
        let signer = try DKIMSigner(domain: "shop.example", selector: "s1", key: Self.edKey)
        var message = try sampleMessage()
        message.replyTo = try Mailbox(address: "help@shop.example")
        let signed = try signer.sign(message.serialized(), at: fixedDate)
        let added = [
            HeaderField(name: "Reply-To", value: " thief@evil.example"),
            HeaderField(name: "Content-Type", value: " text/plain"),
            HeaderField(name: "MIME-Version", value: " 1.0"),
            HeaderField(name: "List-Id", value: " <evil.example>"),
        ]
        let tampered = added.map { field -> [UInt8] in
            var copy = signed
            copy.headers.append(field)
            return copy.bytes
        }
        let verdicts = try await DKIMVerdict.verify([signed.bytes] + tampered, records: records([("s1", Self.edKey)]))
        #expect(verdicts[0].ok, "\(verdicts[0].log)")
        for (field, verdict) in zip(added, verdicts.dropFirst()) {
            #expect(!verdict.ok, "\(field.name) added in transit still verifies")
        }
    }

    @Test func tamperingBreaksTheSignature() async throws {
        let signer = try DKIMSigner(domain: "shop.example", selector: "s1", key: Self.edKey)
        let signed = try signer.sign(sampleMessage().serialized(), at: fixedDate)
        var bodyChanged = signed
        bodyChanged.body += Array("extra line\r\n".utf8)
        var headerAdded = signed
        headerAdded.headers.append(HeaderField(name: "List-Unsubscribe", value: " <https://evil.example/>"))
        var whitespaceOnly = signed
        whitespaceOnly.body = Array(String(decoding: signed.body, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "  \r\n").utf8)
        let verdicts = try await DKIMVerdict.verify([bodyChanged.bytes, headerAdded.bytes, whitespaceOnly.bytes], records: records([("s1", Self.edKey)]))
        #expect(!verdicts[0].ok)
        #expect(!verdicts[1].ok)
        // Relaxed canonicalisation tolerates trailing whitespace added on the way.
        #expect(verdicts[2].ok, "\(verdicts[2].log)")
    }

    @Test func loadsPEMKeysInEveryFormSalvoAccepts() throws {
        guard case .rsa(let rsa) = Self.rsaKey, case .ed25519(let ed) = Self.edKey else { Issue.record(); return }
        let pkcs1 = rsa.pemRepresentation
        #expect(pkcs1.contains("BEGIN RSA PRIVATE KEY"))
        let pkcs8 = rsa.pkcs8PEMRepresentation
        #expect(pkcs8.contains("BEGIN PRIVATE KEY"))
        for pem in [pkcs1, pkcs8] {
            let key = try DKIMKey(pem: pem)
            #expect(key.algorithm == .rsa)
            #expect(key.publicKeyBase64 == Self.rsaKey.publicKeyBase64)
        }
        let edLoaded = try DKIMKey(pem: ed.pemRepresentation)
        #expect(edLoaded.algorithm == .ed25519)
        #expect(edLoaded.publicKeyBase64 == Self.edKey.publicKeyBase64)
        #expect(throws: DKIMKeyError.self) { try DKIMKey(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") }
        #expect(throws: DKIMKeyError.self) { try DKIMKey(contentsOfFile: "/nonexistent/key.pem") }
    }

    @Test func loadsKeysMadeByOpenSSL() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-dkim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rsaPath = directory.appendingPathComponent("rsa.pem").path
        let edPath = directory.appendingPathComponent("ed.pem").path
        for arguments in [["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsaPath],
                          ["genpkey", "-algorithm", "ED25519", "-out", edPath]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        #expect(try DKIMKey(contentsOfFile: rsaPath).algorithm == .rsa)
        #expect(try DKIMKey(contentsOfFile: edPath).algorithm == .ed25519)
    }

    @Test func publishesRecordsInTheFormatVerifiersRead() throws {
        #expect(Self.rsaKey.dnsRecord.hasPrefix("v=DKIM1; k=rsa; p=MIIBIjAN"))
        #expect(Self.edKey.dnsRecord.hasPrefix("v=DKIM1; k=ed25519; p="))
        #expect(Base64.decode(Self.edKey.publicKeyBase64)?.count == 32)
        let zone = Self.rsaKey.zoneFileLine(selector: "s1", domain: "shop.example")
        #expect(zone.hasPrefix("s1._domainkey.shop.example. IN TXT ( \"v=DKIM1; k=rsa; p="))
    }

    @Test func refusesBadDomainsAndSelectors() {
        #expect(throws: DKIMSignerError.self) { try DKIMSigner(domain: "shop.example", selector: "s1; x=1", key: Self.edKey) }
        #expect(throws: DKIMSignerError.self) { try DKIMSigner(domain: "shop;example", selector: "s1", key: Self.edKey) }
    }
}
