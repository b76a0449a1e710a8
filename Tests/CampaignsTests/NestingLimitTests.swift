@testable import Campaigns
import Foundation
import GRDB
import Testing

@Suite struct NestingLimitTests {
    @Test func deepParenthesesAreAnErrorNotACrash() throws {
        let deep = String(repeating: "(", count: 20_000) + "a == 1" + String(repeating: ")", count: 20_000)
        do {
            _ = try SegmentParser.parse(deep)
            Issue.record("20,000 parentheses parsed")
        } catch {
            #expect(error.message == "nested more than 20 levels deep (parentheses and 'not' inside one another)")
            #expect(error.column == 21)
        }
        #expect(throws: SegmentError.self) { try SegmentParser.parse(String(repeating: "not ", count: 20_000) + "a == 1") }
        let chain = Array(repeating: "a == 1", count: 20_000).joined(separator: " and ")
        #expect(throws: SegmentError.self) { try SegmentParser.parse(chain) }
    }

    /// The deepest segment allowed still runs in SQLite (under its expression depth limit).
    @Test func theDeepestAcceptedSegmentCounts() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try ListImport(listName: "l", path: writeFile(Array("email,a\nx@example.com,1\ny@example.com,2\n".utf8), in: folder)).run(in: store)
        // 10 × "not (" is 20 levels; the chain inside makes the tree maxDepth deep.
        let chain = Array(repeating: "a == 1", count: SegmentParser.maxDepth - 10).joined(separator: " or ")
        let nested = String(repeating: "not (", count: 10) + chain + String(repeating: ")", count: 10)
        #expect(try store.count(list: "l", segment: nested) == 1)
        // Alternating operators nest in the SQL too: 18 levels of them inside "not (".
        // The outermost is "a == 27 and (…)", false for both, so "not" selects both.
        var alternating = "a == 2"
        for level in 0..<18 { alternating = "a == \(level + 10) \(level % 2 == 0 ? "or" : "and") (\(alternating))" }
        #expect(try store.count(list: "l", segment: "not (" + alternating + ")") == 2)
        #expect(throws: SegmentError.self) { try SegmentParser.parse("not (not (" + alternating + "))") }
    }

    @Test func deepTemplateSectionsAreAnErrorNamingTheLine() throws {
        let text = "Hello\n" + String(repeating: "{{#a}}", count: 20_000) + String(repeating: "{{/a}}", count: 20_000)
        do {
            _ = try MessageTemplate(subject: TemplateSource(name: "subject", text: "s"), html: nil,
                                    text: TemplateSource(name: "deep.txt", text: text))
            Issue.record("20,000 nested sections parsed")
        } catch {
            #expect(error.description == "deep.txt:2: template syntax error: sections nested more than 64 deep")
        }
        let fine = String(repeating: "{{#a}}", count: 64) + "{{b}}" + String(repeating: "{{/a}}", count: 64)
        let template = try MessageTemplate(subject: TemplateSource(name: "subject", text: "s"), html: nil,
                                           text: TemplateSource(name: "ok.txt", text: fine))
        #expect(template.render(["a": "yes", "b": "B"]).text == "B")
    }

    @Test func aFieldNameWithASpaceNamesTheImportedField() throws {
        do {
            _ = try MessageTemplate(subject: TemplateSource(name: "subject in c.yml", text: "{{ First Name }}, hello"), html: nil,
                                    text: TemplateSource(name: "t.txt", text: "x"))
            Issue.record("a spaced name parsed")
        } catch {
            #expect(error.description == "subject in c.yml:1: template syntax error: '{{First Name}}': a field name cannot hold a space; `salvo import` stores a column 'First Name' as first_name: write {{first_name}}")
        }
        #expect(throws: TemplateError.self) {
            try MessageTemplate(subject: TemplateSource(name: "s", text: "s"), html: nil,
                                text: TemplateSource(name: "t.txt", text: "{{#Favourite Colour}}x{{/Favourite Colour}}"))
        }
    }
}
