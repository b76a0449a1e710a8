import Foundation
import MailMessage
import Testing
import TestPeers
@testable import Campaigns

@Suite struct MessageTemplateTests {
    @Test func listsEveryFieldTheTemplatesAndPartialsUse() throws {
        let folder = try springSaleFolder()
        let template = try springSaleTemplate(folder)
        #expect(template.referencedFields == ["first_name", "city", "code", "unsubscribe_url", "campaign", "list", "unsubscribe_token"])
        #expect(template.usesUnsubscribeToken)
        let footer = template.fieldReferences.first { $0.name == "unsubscribe_url" }
        #expect(footer?.file == folder.file("footer.mustache"))
        #expect(footer?.line == 1)
    }

    @Test func scansDelimiterChangesTransformsAndDottedNames() throws {
        let template = try MessageTemplate(
            subject: TemplateSource(name: "s", text: "{{! a comment {{ignored}} }}{{uppercased(first_name)}} {{{raw}}} {{&amp}}\n{{=<% %>=}}<% late %> <%^missing%>x<%/missing%> {{not_a_tag}}\n<%={{ }}=%>{{a.b}} {{.}}"),
            html: nil, text: TemplateSource(name: "t", text: "x")
        )
        #expect(template.referencedFields == ["first_name", "raw", "amp", "late", "missing", "a"])
        #expect(template.fieldReferences.first { $0.name == "late" }?.line == 2)
    }

    @Test func checkFieldsNamesTheFileAndLineOfAnUnknownField() throws {
        let folder = try springSaleFolder()
        let template = try springSaleTemplate(folder)
        try template.checkFields(available: ["first_name", "city", "code"])
        do {
            try template.checkFields(available: ["first_name", "city"])
            Issue.record("an unknown field was accepted")
        } catch {
            #expect(error.kind == .unknownField("code"))
            #expect(error.line == 4 || error.line == 5)
            #expect(error.description.contains("spring-sale."))
            #expect(error.description.contains(":\(error.line!): unknown field 'code'"))
        }
    }

    @Test func syntaxErrorsNameTheFileAndLine() throws {
        let folder = try TemplateFolder(["broken.mustache": "line one\nline two {{#open}}\nline three\n"])
        for asText in [true, false] {
            do {
                let source = try TemplateSource.file(folder.file("broken.mustache"))
                _ = try MessageTemplate(subject: TemplateSource(name: "s", text: "x"), html: asText ? nil : source, text: asText ? source : nil)
                Issue.record("a broken template was accepted")
            } catch {
                #expect(error.file == folder.file("broken.mustache"))
                #expect(error.line != nil && error.line! >= 2 && error.line! <= 4)
                if case .syntax = error.kind {} else { Issue.record("wrong kind \(error.kind)") }
            }
        }
        // A broken partial that a template includes is named too.
        let partials = try TemplateFolder(["bad.mustache": "{{/close}}"])
        #expect { try MessageTemplate(subject: TemplateSource(name: "s", text: "x"), html: nil, text: TemplateSource(name: "t", text: "y {{> bad}}"), partialsDirectory: partials.path) } throws: {
            ($0 as? TemplateError)?.file == partials.file("bad.mustache")
        }
    }

    @Test func aMissingPartialIsNamedWithItsLine() throws {
        #expect { try MessageTemplate(subject: TemplateSource(name: "s", text: "x"), html: nil, text: TemplateSource(name: "body.txt", text: "a\n{{> nowhere}}\n")) } throws: {
            guard let error = $0 as? TemplateError else { return false }
            return error.kind == .missingPartial("nowhere") && error.file == "body.txt" && error.line == 2
        }
    }

    @Test func onlyIncludedPartialsAreRead() throws {
        let folder = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask,
                                                 appropriateFor: URL(fileURLWithPath: NSTemporaryDirectory()), create: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("emails"), withIntermediateDirectories: true)
        try "Bye {{first_name}}{{> emails/sign}}".write(to: folder.appendingPathComponent("emails/footer.mustache"), atomically: true, encoding: .utf8)
        try " -- the shop".write(to: folder.appendingPathComponent("emails/sign.mustache"), atomically: true, encoding: .utf8)
        // A draft in the same folder that does not even parse: not included, never read.
        try "{{#broken}}".write(to: folder.appendingPathComponent("draft.mustache"), atomically: true, encoding: .utf8)
        let template = try MessageTemplate(subject: TemplateSource(name: "s", text: "Hi"), html: nil,
                                           text: TemplateSource(name: "body.txt", text: "Hello\n{{> emails/footer}}\n"),
                                           partialsDirectory: folder.path)
        // A partial tag alone on its line stands for the whole line (mustache's standalone rule).
        #expect(template.render(["first_name": "Ann"]).text == "Hello\nBye Ann -- the shop")
        #expect(template.referencedFields == ["first_name"])
        #expect { try MessageTemplate(subject: TemplateSource(name: "s", text: "x"), html: nil,
                                      text: TemplateSource(name: "t", text: "{{> ../etc/passwd}}"), partialsDirectory: folder.path) } throws: {
            ($0 as? TemplateError)?.kind == .missingPartial("../etc/passwd")
        }
    }

    @Test func escapesValuesInHTMLOnly() throws {
        let folder = try springSaleFolder()
        let template = try springSaleTemplate(folder)
        let rendered = template.render(["first_name": "<Ann & \"Bo\">", "city": "Lagos", "code": "A&B"])
        #expect(rendered.html?.contains("Hello &lt;Ann &amp; &quot;Bo&quot;&gt;,") == true)
        #expect(rendered.text?.contains("Hello <Ann & \"Bo\">,") == true)
        #expect(rendered.subject == "<Ann & \"Bo\">, spring deals in Lagos")
        // The partial is in text mode inside the text part.
        #expect(rendered.text?.contains("A&B") == true)
        #expect(rendered.html?.contains("A&amp;B") == true)
        // Partials follow the part they are included in.
        let withList = template.render(["list": "Fruit & <Veg>"])
        #expect(withList.text?.contains("/Fruit & <Veg>)") == true)
        #expect(withList.html?.contains("/Fruit &amp; &lt;Veg&gt;)") == true)
    }

    @Test func composerRefusesTokenTemplatesWithoutASecret() throws {
        let folder = try springSaleFolder()
        var settings = try springSaleSettings()
        settings.unsubscribeSecret = nil
        #expect { try MessageComposer(template: try springSaleTemplate(folder), settings: settings, signer: nil) } throws: {
            ($0 as? TemplateError)?.kind == .missingUnsubscribeSecret
        }
    }

    @Test func mergesBuiltInsAndDerivesNames() throws {
        let folder = try springSaleFolder()
        let composer = try MessageComposer(template: try springSaleTemplate(folder), settings: try springSaleSettings(), signer: nil)
        let values = composer.values(for: TemplateRecipient(email: "ann@example.org", displayName: "Ann Marie Okafor", attributes: ["city": "", "email": "spoof@x"]))
        #expect(values["email"] == "ann@example.org")
        #expect(values["first_name"] == "Ann")
        #expect(values["last_name"] == "Marie Okafor")
        #expect(values["city"] == nil)
        #expect(values["campaign"] == "spring-sale")
        let token = try #require(values["unsubscribe_token"])
        #expect(UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: "ann@example.org", secret: unsubscribeSecret))
    }

    /// Templates of text and plain field tags are rendered from compiled pieces; random
    /// ones (tags of every plain form, braces in the text, values with the characters
    /// HTML escapes, missing values) must come out exactly as swift-mustache renders
    /// them, and so must templates the compiler leaves to mustache.
    @Test func compiledTemplatesRenderAsMustacheDoes() throws {
        var generator = SeededGenerator(seed: 7)
        let names = ["first_name", "city", "x-y", "a_1", "missing"]
        let texts = ["Hello ", "\t", " \t\n", ", ", "\n", "\r\n", " } ", "{ ", "é ü 🎉", "<b>", "&amp;", "a}}b", "{x}", "  "]
        let tags = [{ "{{\($0)}}" }, { "{{ \($0) }}" }, { "{{{\($0)}}}" }, { "{{{ \($0) }}}" }, { "{{&\($0)}}" }, { "{{& \($0)}}" }] as [(String) -> String]
        let specials = ["Ada", "<script>", "O'Brien & \"Sons\"", "", "Jürgen > 5", "1 < 2 && 3", "\u{1F600}"]
        // And a few the compiler must leave to mustache.
        var sources = ["{{#city}}in {{city}}{{/city}}", "{{! note }}\nHi {{first_name}}", "{{a.b}} {{city}}", "{{^city}}no city{{/city}}",
                       "{{=<% %>=}}<% city %>", "{{uppercased(city)}}"]
        for _ in 0..<300 {
            var source = ""
            for _ in 0..<Int(generator.next() % 8) {
                source += texts[Int(generator.next() % UInt64(texts.count))]
                source += tags[Int(generator.next() % UInt64(tags.count))](names[Int(generator.next() % UInt64(names.count))])
            }
            if generator.next() % 2 == 0 { source += texts[Int(generator.next() % UInt64(texts.count))] }
            sources.append(source)
        }
        for source in sources {
            let template = try MessageTemplate(subject: TemplateSource(name: "s", text: source),
                                               html: TemplateSource(name: "h", text: source), text: TemplateSource(name: "t", text: source),
                                               unsubscribeURL: TemplateSource(name: "u", text: source))
            for _ in 0..<5 {
                var values: [String: String] = [:]
                for name in names.dropLast() where generator.next() % 5 != 0 {
                    values[name] = specials[Int(generator.next() % UInt64(specials.count))]
                }
                #expect(template.render(values) == template.renderWithMustache(values), "\(source) with \(values)")
            }
        }
    }
}
