import Foundation
import TestPeers
import Testing
@testable import MailMessage

@Suite struct MessageSerializationTests {
    @Test func writesTheHeadersABulkSenderNeeds() throws {
        let message = try sampleMessage().serialized()
        let names = message.headers.map(\.name)
        #expect(names == [
            "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
            "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "X-Salvo-Campaign", "Feedback-ID",
        ])
        #expect(message.header("From")?.value == " \"Shop\" <news@shop.example>")
        #expect(message.header("To")?.value == " \"Ann Okafor\" <ann@example.org>")
        #expect(message.header("Date")?.value == " Wed, 25 Nov 2026 11:47:11 +0000")
        #expect(message.header("Message-ID")!.value.hasSuffix("@shop.example>"))
        #expect(message.header("List-Id")?.value == " \"customers\" <customers.shop.example>")
        #expect(message.header("List-Unsubscribe")?.unfoldedValue == "<https://shop.example/u/abc>, <mailto:unsubscribe@shop.example?subject=unsubscribe>")
        #expect(message.header("List-Unsubscribe-Post")?.value == " List-Unsubscribe=One-Click")
        #expect(message.header("X-Salvo-Campaign")?.unfoldedValue == "campaign=spring-sale; recipient=42")
        #expect(CampaignTrace(headerValue: message.header("X-Salvo-Campaign")!.unfoldedValue) == CampaignTrace(campaign: "spring-sale", recipient: "42"))
    }

    @Test func messageIDsAreUniqueAndOnTheSendingDomain() {
        var generator = SystemRandomNumberGenerator()
        let ids = (0..<10_000).map { _ in MessageID.generate(domain: "shop.example", using: &generator).value }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.hasSuffix("@shop.example") && $0.count == 27 + 13 })
    }

    @Test func messageIDsMadeLaterSortLater() {
        var generator = SystemRandomNumberGenerator()
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let ids = (0..<1_000).map { step in
            MessageID.generate(domain: "shop.example", at: start.addingTimeInterval(Double(step) * 0.002), using: &generator).value
        }
        let inOrder = ids == ids.sorted()
        #expect(inOrder, "\(ids.prefix(5))")
        #expect(MessageID.generate(domain: "x.example", at: Date(timeIntervalSince1970: 0), using: &generator).value.hasPrefix("2222222222."))
    }

    @Test func usesPunycodeUnlessSMTPUTF8() throws {
        var message = try sampleMessage()
        message.to = try Mailbox(displayName: "Jörg", address: "joerg@bücher.example")
        let ascii = try message.serialized()
        #expect(ascii.header("To")!.value.contains("<joerg@xn--bcher-kva.example>"))
        let utf8 = try message.serialized(options: .init(smtputf8: true))
        #expect(utf8.header("To")!.value.contains("<joerg@bücher.example>"))
    }

    @Test func everyLineEndsInCRLFAndNoneIsTooLong() throws {
        let longLine = String(repeating: "word ", count: 400) + String(repeating: "x", count: 2000)
        let message = try sampleMessage(
            subject: String(repeating: "Ünïcödé subject ", count: 30),
            text: longLine, html: "<p>" + longLine + "</p>",
            attachments: [Attachment(filename: "prices.pdf", contentType: "application/pdf", data: Array(repeating: 0xAB, count: 5000))]
        ).serialized().bytes
        for line in lines(message) {
            #expect(line.count <= 998)
            #expect(!line.contains(13) && !line.contains(10))
        }
        #expect(message.suffix(2) == [13, 10])
    }

    @Test func onlyHTMLGetsAGeneratedTextPart() async throws {
        let parsed = try await ParsedMessage.parse([
            try sampleMessage(text: nil, html: "<h1>Hi Ann</h1><p>See <a href=\"https://shop.example/d\">the deals</a>.</p>").serialized().bytes,
        ])[0]
        #expect(parsed.tree.description == "multipart/alternative[text/plain, text/html]")
        #expect(parsed.leaves[0].text?.contains("the deals (https://shop.example/d)") == true)
    }

    @Test func pythonReadsEveryShapeBack() async throws {
        let attachment = Attachment(filename: "Prix d’été — 2026 très long nom de fichier.pdf", contentType: "application/pdf", data: (0..<3000).map { UInt8($0 % 251) })
        let text = "Bonjour Zoë,\n\nLes offres de printemps sont là : -30 % = moins cher.\n" + String(repeating: "Une très longue ligne ", count: 20) + "\n"
        let html = "<p>Bonjour <b>Zoë</b>,</p><p>" + String(repeating: "offres ", count: 100) + "</p>"
        let cases: [(Message, String)] = [
            (try sampleMessage(text: text, html: nil), "text/plain"),
            (try sampleMessage(text: text, html: html), "multipart/alternative[text/plain, text/html]"),
            (try sampleMessage(text: text, html: html, attachments: [attachment]),
             "multipart/mixed[multipart/alternative[text/plain, text/html], application/pdf]"),
            (try sampleMessage(text: text, html: nil, attachments: [attachment, Attachment(filename: "a.txt", contentType: "bad type", data: [1, 2])]),
             "multipart/mixed[text/plain, application/pdf, application/octet-stream]"),
        ]
        let parsed = try await ParsedMessage.parse(try cases.map { try $0.0.serialized().bytes })
        for ((message, tree), result) in zip(cases, parsed) {
            #expect(result.tree.description == tree)
            #expect(result.defects.isEmpty, "\(result.defects)")
            #expect(result.maxLine <= 78 || result.leaves.contains { $0.contentType == "text/html" })
            #expect(result.maxLine <= 998)
            #expect(!result.bareLineBreak)
            let plain = result.leaves.first { $0.contentType == "text/plain" }
            #expect(plain?.text?.trimmingCharacters(in: .newlines) == message.text?.trimmingCharacters(in: .newlines))
            if let html = message.html {
                #expect(result.leaves.first { $0.contentType == "text/html" }?.text?.trimmingCharacters(in: .newlines) == html)
            }
            if !message.attachments.isEmpty {
                let leaf = result.leaves.first { $0.contentType == "application/pdf" }
                #expect(leaf?.filename == attachment.filename)
                #expect(leaf?.size == attachment.data.count)
                #expect(leaf?.disposition == "attachment")
            }
        }
    }

    @Test func nonASCIINamesAndSubjectsDecodeToTheOriginal() async throws {
        let samples: [(String, String)] = [
            ("Zoë Ångström", "Zoë, vos offres — jusqu’à -30 %"),
            ("山田 太郎", "春のセール：今だけ 30% オフ！" + String(repeating: "お得な情報", count: 10)),
            ("Ольга \"Оля\" Петрова", "Весенние скидки для вас, Ольга"),
            ("👩‍💻 Ada", "🌸 " + String(repeating: "Spring deals ", count: 10) + "🌷"),
            ("Plain \"Quoted\" Name, Jr.", "An ASCII subject with =?odd?= bits"),
            (String(repeating: "Very Long Display Name ", count: 5), "x"),
            (String(repeating: "Ольга Петрова ", count: 6), "Весенние скидки для вас " + String(repeating: "и только для вас ", count: 5)),
        ]
        let messages = try samples.enumerated().map { index, sample in
            try sampleMessage(toName: sample.0, subject: sample.1, seed: UInt64(index)).serialized().bytes
        }
        for (sample, parsed) in zip(samples, try await ParsedMessage.parse(messages)) {
            let name = sample.0.trimmingCharacters(in: .whitespaces)
            #expect(parsed.header("Subject") == sample.1)
            #expect(parsed.rfc2047["subject"] == sample.1)
            if name.utf8.allSatisfy({ $0 < 0x80 }) || name.utf8.count <= 42 {
                // Quoted strings, and names short enough for one encoded-word, read
                // back through Python's address parser too.
                #expect(parsed.addresses["to"]?.first == [name, "ann@example.org"])
            }
            if !name.utf8.allSatisfy({ $0 < 0x80 }) {
                #expect(parsed.rfc2047["to"] == "\(name) <ann@example.org>")
            }
            #expect(parsed.defects.isEmpty, "\(parsed.defects)")
            #expect(parsed.maxLine <= 78)
        }
    }

    static let injection = "Ann\r\nBcc: victim@example.org"

    /// Every place a recipient's data reaches: display names, subject, bodies, list
    /// and campaign names, the unsubscribe URL, attachment names. The header set and the
    /// MIME tree must be those of an innocent message.
    @Test func injectionThroughAnyFieldChangesNoStructure() async throws {
        let attack = Self.injection
        let boundaryAttack = "\r\n--=_alt_x\r\nContent-Type: text/html\r\n\r\n<script>\r\n.\r\nMAIL FROM:<x@y>"
        let attachment = Attachment(filename: "a.pdf", contentType: "application/pdf", data: [1, 2, 3])
        let baseline = try sampleMessage(attachments: [attachment])
        var variants: [Message] = []
        for value in [attack, boundaryAttack, "Ann\rBcc: v@x\nX: y\u{0}\u{85}\u{2028}z", "Ann\u{0085}To: x@y"] {
            variants.append(try sampleMessage(toName: value, attachments: [attachment]))
            variants.append(try sampleMessage(subject: value, attachments: [attachment]))
            variants.append(try sampleMessage(text: value, html: value, attachments: [attachment]))
            variants.append(try sampleMessage(attachments: [attachment], listName: value))
            variants.append(try sampleMessage(attachments: [attachment], campaign: value))
            variants.append(try sampleMessage(attachments: [attachment], unsubscribeURL: "https://shop.example/u/" + value))
            variants.append(try sampleMessage(attachments: [Attachment(filename: value, contentType: "application/pdf", data: [1])]))
            var from = try sampleMessage(attachments: [attachment])
            from.from.displayName = value
            from.replyTo = try Mailbox(displayName: value, address: "reply@shop.example")
            variants.append(from)
        }
        let all = [baseline] + variants
        let parsed = try await ParsedMessage.parse(try all.map { try $0.serialized().bytes })
        let expectedNames = parsed[0].headerNames
        for (index, result) in parsed.enumerated().dropFirst() {
            let names = result.headerNames.filter { $0 != "Reply-To" }
            #expect(names == expectedNames, "variant \(index)")
            #expect(result.tree == parsed[0].tree, "variant \(index)")
            #expect(result.addresses["to"]?.map { $0[1] } == ["ann@example.org"], "variant \(index)")
            #expect(!result.headers.contains { $0[0].lowercased() == "bcc" })
            #expect(!result.bareLineBreak)
        }
    }

    @Test func aContentTypeThatIsNotOneBecomesOctetStream() async throws {
        let message = try sampleMessage(attachments: [Attachment(filename: "a.pdf", contentType: Self.injection, data: [1])])
        let parsed = try await ParsedMessage.parse([try message.serialized().bytes])[0]
        #expect(parsed.tree.description == "multipart/mixed[multipart/alternative[text/plain, text/html], application/octet-stream]")
        #expect(!parsed.headers.contains { $0[0].lowercased() == "bcc" })
    }

    @Test func addressesThatCouldBreakAHeaderAreRefused() {
        for address in ["ann@example.org\r\nBcc: v@x", "ann@exa mple.org", "a<b@x.org", "ann@x.org>, v@y.org", "ann", "@x.org", "ann@"] {
            #expect(throws: MailboxError.self, "\(address.debugDescription)") { try Mailbox(address: address) }
        }
    }

    @Test func parsesCampaignSenders() throws {
        let plain = try Mailbox(parsing: "news@shop.example")
        #expect(plain.displayName == nil && plain.address == "news@shop.example")
        let named = try Mailbox(parsing: "\"Shop, Inc.\" <news@shop.example>")
        #expect(named.displayName == "Shop, Inc." && named.domain == "shop.example")
    }

    @Test func formatsDates() {
        #expect(DateHeader.format(Date(timeIntervalSince1970: 0)) == "Thu, 1 Jan 1970 00:00:00 +0000")
        #expect(DateHeader.format(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 +0000")
        #expect(DateHeader.format(fixedDate) == "Wed, 25 Nov 2026 11:47:11 +0000")
    }
}
