import Foundation
import MailMessage
import TestPeers
import Testing
@testable import Campaigns

/// A whole test campaign, composed for every recipient, read back by Python's `email`
/// package and verified by dkimpy: the checks a mailbox provider would make.
@Suite struct CampaignMessagesPeerTests {
    static let attack = "Ann\r\nBcc: victim@example.org"

    static let recipients: [TemplateRecipient] = [
        TemplateRecipient(email: "ann@example.org", attributes: ["first_name": "Ann", "last_name": "Okafor", "city": "Lagos", "code": "SPRING-1"], id: "1"),
        TemplateRecipient(email: "zoe@example.fr", attributes: ["first_name": "Zoë", "last_name": "Ångström", "city": "Besançon", "code": "PRINTEMPS"], id: "2"),
        TemplateRecipient(email: "taro@example.jp", attributes: ["first_name": "太郎", "last_name": "山田", "city": "東京", "code": "春"], id: "3"),
        TemplateRecipient(email: "olga@xn--e1afmkfd.example", displayName: "Ольга «Оля» Петрова", attributes: ["first_name": "Ольга", "city": "Москва", "code": "ВЕСНА"], id: "4"),
        TemplateRecipient(email: "joerg@bücher.example", attributes: ["first_name": "Jörg", "city": "München", "code": "X"], id: "5"),
        TemplateRecipient(email: "noname@example.org", attributes: ["code": "none"], id: "6"),
        TemplateRecipient(email: "long@example.org", attributes: ["first_name": String(repeating: "Maximilian-", count: 12), "city": String(repeating: "Llanfairpwllgwyngyll ", count: 6), "code": String(repeating: "=", count: 200)], id: "7"),
    ]

    /// The same recipient shape with the attack in each field in turn.
    static var attackers: [TemplateRecipient] {
        let fields = ["first_name", "last_name", "city", "code"]
        var result: [TemplateRecipient] = []
        for value in [attack, "x\r\n\r\n--=_alt_\r\nContent-Type: text/html\r\n\r\n<script>", "Ann\rTo: a@b\nSubject: hi\u{0}\u{85}"] {
            for field in fields {
                var attributes = ["first_name": "Ann", "last_name": "Okafor", "city": "Lagos", "code": "SPRING-1"]
                attributes[field] = value
                result.append(TemplateRecipient(email: "ann@example.org", attributes: attributes, id: "1"))
            }
            result.append(TemplateRecipient(email: "ann@example.org", displayName: value, attributes: ["city": "Lagos", "code": "SPRING-1"], id: "1"))
            result.append(TemplateRecipient(email: "ann@example.org", attributes: ["first_name": "Ann", "city": "Lagos", "code": "SPRING-1"], id: value))
        }
        return result
    }

    func compose(_ recipients: [TemplateRecipient], key: DKIMKey?, html: Bool = true, text: Bool = true) throws -> [[UInt8]] {
        let folder = try springSaleFolder()
        let signer = try key.map { try DKIMSigner(domain: "shop.example", selector: "s1", key: $0) }
        let composer = try MessageComposer(template: try springSaleTemplate(folder, html: html, text: text), settings: try springSaleSettings(), signer: signer)
        var generator = SeededGenerator(seed: 7)
        return try recipients.map { try composer.compose(for: $0, date: renderDate, using: &generator).bytes }
    }

    @Test(arguments: [DKIMKey.Algorithm.rsa, .ed25519])
    func everyMessageParsesAndVerifies(_ algorithm: DKIMKey.Algorithm) async throws {
        let key = try DKIMKey.generate(algorithm)
        let messages = try compose(Self.recipients, key: key)
        let parsed = try await ParsedMessage.parse(messages)
        let verdicts = try await DKIMVerdict.verify(messages, records: ["s1._domainkey.shop.example": key.dnsRecord])
        for (index, (recipient, (result, verdict))) in zip(Self.recipients, zip(parsed, verdicts)).enumerated() {
            #expect(verdict.ok, "recipient \(index): \(verdict.log)")
            #expect(result.defects.isEmpty, "recipient \(index): \(result.defects)")
            #expect(result.tree.description == "multipart/alternative[text/plain, text/html]")
            #expect(!result.bareLineBreak)
            #expect(result.maxLine <= 998)
            let first = recipient.attributes["first_name"] ?? ""
            let city = recipient.attributes["city"] ?? ""
            // The rendered subject, trimmed of surrounding whitespace.
            #expect(result.header("Subject") == "\(first), spring deals in \(city)".trimmingCharacters(in: .whitespaces), "recipient \(index)")
            let plain = try #require(result.leaves.first { $0.contentType == "text/plain" }?.text)
            let html = try #require(result.leaves.first { $0.contentType == "text/html" }?.text)
            #expect(plain.hasPrefix("Hello \(first),\n"))
            #expect(plain.contains("Your code: \(recipient.attributes["code"]!)"))
            #expect(html.contains("<h1>Hello \(first),</h1>"))
            // The unsubscribe URL in the body is the one in the header, and its token verifies.
            let header = try #require(result.header("List-Unsubscribe"))
            let url = String(header.dropFirst().prefix { $0 != ">" })
            #expect(plain.contains("Unsubscribe: \(url) (spring-sale/customers)"))
            let token = String(url.dropFirst("https://shop.example/u/".count))
            #expect(UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: recipient.email, secret: unsubscribeSecret))
            // The mailto carries the same token, its subject percent-encoded (RFC 6068).
            #expect(header.hasSuffix("<mailto:unsubscribe@shop.example?subject=unsubscribe%20\(token)>"), "\(header)")
            #expect(result.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click")
            #expect(result.header("List-Id") == "\"customers\" <customers.shop.example>")
            #expect(result.header("X-Salvo-Campaign") == "campaign=spring-sale; recipient=\(recipient.id!)")
            #expect(result.header("Message-ID")?.hasSuffix("@shop.example>") == true)
        }
        // Names decode back to the original text; the IDN domain went out as punycode.
        #expect(parsed[3].addresses["to"]?.first == ["Ольга «Оля» Петрова", "olga@xn--e1afmkfd.example"])
        #expect(parsed[1].addresses["to"]?.first == ["Zoë Ångström", "zoe@example.fr"])
        #expect(parsed[2].addresses["to"]?.first == ["太郎 山田", "taro@example.jp"])
        #expect(parsed[4].addresses["to"]?.first == ["Jörg", "joerg@xn--bcher-kva.example"])
        #expect(parsed[5].addresses["to"]?.first == ["", "noname@example.org"])
    }

    @Test func dualSignedMessagesVerifyWithBothKeys() async throws {
        let rsa = try DKIMKey.generate(.rsa)
        let ed = try DKIMKey.generate(.ed25519)
        let folder = try springSaleFolder()
        let composer = try MessageComposer(
            template: try springSaleTemplate(folder), settings: try springSaleSettings(),
            signers: [try DKIMSigner(domain: "shop.example", selector: "ed", key: ed), try DKIMSigner(domain: "shop.example", selector: "rsa", key: rsa)]
        )
        var generator = SeededGenerator(seed: 11)
        let messages = try Self.recipients.map { try composer.compose(for: $0, date: renderDate, using: &generator).bytes }
        let verdicts = try await DKIMVerdict.verify(messages, records: [
            "ed._domainkey.shop.example": ed.dnsRecord, "rsa._domainkey.shop.example": rsa.dnsRecord,
        ])
        for verdict in verdicts {
            #expect(verdict.signatures == 2)
            #expect(verdict.ok, "\(verdict.log)")
        }
        // With one key missing from DNS the message no longer passes every signature.
        let partial = try await DKIMVerdict.verify([messages[0]], records: ["ed._domainkey.shop.example": ed.dnsRecord])
        #expect(!partial[0].ok)
    }

    @Test func injectionThroughEveryMergeFieldChangesNothingStructural() async throws {
        let key = try DKIMKey.generate(.ed25519)
        let baseline = Self.recipients[0]
        let messages = try compose([baseline] + Self.attackers, key: key)
        let parsed = try await ParsedMessage.parse(messages)
        let verdicts = try await DKIMVerdict.verify(messages, records: ["s1._domainkey.shop.example": key.dnsRecord])
        for (index, (result, verdict)) in zip(parsed, verdicts).enumerated() {
            #expect(result.headerNames == parsed[0].headerNames, "attacker \(index)")
            #expect(result.tree == parsed[0].tree, "attacker \(index)")
            #expect(result.addresses["to"]?.map { $0[1] } == ["ann@example.org"], "attacker \(index)")
            #expect(result.defects.isEmpty, "attacker \(index): \(result.defects)")
            #expect(verdict.ok, "attacker \(index): \(verdict.log)")
            #expect(!result.bareLineBreak)
        }
    }

    @Test func anAddressThatCouldBreakAHeaderIsRefusedNotSent() throws {
        let folder = try springSaleFolder()
        let composer = try MessageComposer(template: try springSaleTemplate(folder), settings: try springSaleSettings(), signer: nil)
        var generator = SeededGenerator(seed: 1)
        for email in [Self.attack, "ann@example.org\r\nBcc: victim@example.org", "ann@example.org>, <victim@example.org"] {
            #expect(throws: CompositionError.self) {
                try composer.compose(for: TemplateRecipient(email: email, attributes: ["first_name": "Ann"]), date: renderDate, using: &generator)
            }
        }
    }

    @Test func anHTMLOnlyCampaignGetsAReadableTextPart() async throws {
        let messages = try compose([Self.recipients[0]], key: nil, text: false)
        let parsed = try await ParsedMessage.parse(messages)[0]
        #expect(parsed.tree.description == "multipart/alternative[text/plain, text/html]")
        let plain = try #require(parsed.leaves.first?.text)
        #expect(plain.hasPrefix("Hello Ann,\n\nDeals near Lagos for you.\n\nYour code: SPRING-1"))
    }

    @Test func wireBytesAreWhatPreviewPrints() throws {
        let key = try DKIMKey.generate(.ed25519)
        let folder = try springSaleFolder()
        let signer = try DKIMSigner(domain: "shop.example", selector: "s1", key: key)
        let composer = try MessageComposer(template: try springSaleTemplate(folder), settings: try springSaleSettings(), signer: signer)
        var first = SeededGenerator(seed: 3)
        var second = SeededGenerator(seed: 3)
        let message = try composer.message(for: Self.recipients[0], date: renderDate, using: &first)
        let bytes = try MessageComposer.wireBytes(message, signer: signer, at: renderDate)
        let composed = try composer.compose(for: Self.recipients[0], date: renderDate, using: &second)
        #expect(bytes == composed.bytes)
        #expect(composed.messageID == message.messageID)
        #expect(String(decoding: bytes.prefix(15), as: UTF8.self) == "DKIM-Signature:")
        #expect(!composed.dependsOnSMTPUTF8)
        var third = SeededGenerator(seed: 3)
        let idn = try composer.compose(for: Self.recipients[4], date: renderDate, options: .init(smtputf8: true), using: &third)
        #expect(idn.dependsOnSMTPUTF8)
        #expect(String(decoding: idn.bytes, as: UTF8.self).contains("<joerg@bücher.example>"))
    }
}
