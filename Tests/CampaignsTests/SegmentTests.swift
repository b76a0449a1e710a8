@testable import Campaigns
import Foundation
import TestPeers
import Testing

@Suite struct SegmentParserTests {
    @Test func parsesPrecedenceAndForms() throws {
        let e = try SegmentParser.parse(#"country == "NG" or not age >= 18 and tags contains 'food' or plan in ["pro", 2] or phone exists"#)
        #expect(e == .or(.or(.or(
            .comparison(field: "country", op: .equal, value: .string("NG")),
            .and(.not(.comparison(field: "age", op: .greaterOrEqual, value: .number(18, text: "18"))),
                 .contains(field: "tags", value: "food"))),
            .isIn(field: "plan", values: [.string("pro"), .number(2, text: "2")])),
            .exists(field: "phone")))
        #expect(e.fields == ["country", "age", "tags", "plan", "phone"])
    }

    @Test func stringEscapes() throws {
        let e = try SegmentParser.parse(#"name == "say \"hi\"\n\u00e9" and `first name` != 'it\'s'"#)
        #expect(e == .and(.comparison(field: "name", op: .equal, value: .string("say \"hi\"\né")),
                          .comparison(field: "first name", op: .notEqual, value: .string("it's"))))
    }

    @Test(arguments: [
        (#"country = "NG""#, 9, "use '=='"),
        (#"country == "NG" and"#, 20, "expected a condition"),
        (#"(country == "NG""#, 17, "expected ')'"),
        (#"country == "NG"#, 12, "string is not closed"),
        (#"country "NG""#, 9, "expected ==, !="),
        (#"age > 1x"#, 7, "not a number"),
        (#"country == "NG" country"#, 17, "expected 'and', 'or'"),
        (#"tags contains 5"#, 15, "'contains' takes a string"),
    ])
    func errorsPointAtTheColumn(text: String, column: Int, message: String) {
        do {
            _ = try SegmentParser.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.column == column, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasSuffix(String(repeating: " ", count: column - 1) + "^"))
        }
    }
}

/// Segment counts in SQL against the same rules evaluated directly over the rows.
@Suite struct SegmentCountTests {
    struct Person: Sendable { var email: String; var attributes: [String: String] }

    static let people: [Person] = {
        var generator = SeededGenerator(seed: 42)
        let countries = ["NG", "GH", "KE", "US", "x' OR 1=1 --", ""]
        let tags = ["food", "tech", "travel", "books"]
        return (0..<400).map { i in
            var attributes: [String: String] = [:]
            attributes["country"] = countries[Int(generator.next() % UInt64(countries.count))]
            attributes["age"] = i % 7 == 0 ? "n/a" : String(Int(generator.next() % 80) + 10)
            attributes["score"] = String(Double(generator.next() % 1000) / 10)
            attributes["tags"] = tags.filter { _ in generator.next() % 3 == 0 }.joined(separator: ";")
            return Person(email: "p\(i)@d\(i % 5).example", attributes: attributes)
        }
    }()

    static func number(_ text: String?) -> Double? { text.flatMap { SegmentNumber.parse($0) } }

    static let cases: [(String, @Sendable (Person) -> Bool)] = [
        (#"country == "NG""#, { $0.attributes["country"] == "NG" }),
        (#"country != "NG""#, { $0.attributes["country"] != "NG" }),
        (#"country == "x' OR 1=1 --""#, { $0.attributes["country"] == "x' OR 1=1 --" }),
        (#"age >= 18 and age < 30"#, { (number($0.attributes["age"]).map { $0 >= 18 && $0 < 30 }) ?? false }),
        (#"not age >= 18"#, { !((number($0.attributes["age"]).map { $0 >= 18 }) ?? false) }),
        (#"score > 50.5"#, { (number($0.attributes["score"]).map { $0 > 50.5 }) ?? false }),
        (#"age == 9 or age == 10"#, { number($0.attributes["age"]) == 10 }),
        (#"tags contains "food""#, { $0.attributes["tags"]!.contains("food") }),
        (#"tags contains "food" and not tags contains "tech""#, { $0.attributes["tags"]!.contains("food") && !$0.attributes["tags"]!.contains("tech") }),
        (#"country in ["GH", "KE"]"#, { ["GH", "KE"].contains($0.attributes["country"]!) }),
        (#"country exists"#, { !$0.attributes["country"]!.isEmpty }),
        (#"not tags exists"#, { $0.attributes["tags"]!.isEmpty }),
        (#"domain == "d3.example" or (country == "US" and age < 40)"#, {
            $0.email.hasSuffix("@d3.example") || ($0.attributes["country"] == "US" && ((number($0.attributes["age"]).map { $0 < 40 }) ?? false))
        }),
        (#"missing == "x""#, { _ in false }),
    ]

    @Test func countsMatchADirectEvaluation() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var csv = "email,country,age,score,tags,missing\n"
        for p in Self.people {
            csv += [p.email, p.attributes["country"]!, p.attributes["age"]!, p.attributes["score"]!, p.attributes["tags"]!, ""]
                .map(CSVField.quote).joined(separator: ",") + "\n"
        }
        let path = writeFile(Array(csv.utf8), in: folder)
        #expect(try ListImport(listName: "people", path: path).run(in: store).imported == Self.people.count)
        for (expression, predicate) in Self.cases {
            let expected = Self.people.filter(predicate).count
            #expect(try store.count(list: "people", segment: expression) == expected, "\(expression)")
        }
        // An injection attempt matches only the value itself, never everybody.
        let injected = try store.count(list: "people", segment: #"country == "x' OR 1=1 --""#)
        #expect(injected > 0 && injected < Self.people.count / 2)
    }

    @Test func unknownFieldsAndListsAreErrors() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = writeFile(Array("email,country\na@example.com,NG\n".utf8), in: folder)
        _ = try ListImport(listName: "l", path: path).run(in: store)
        #expect(throws: SegmentFieldError.self) { try store.count(list: "l", segment: #"contry == "NG""#) }
        #expect(throws: StoreError.listNotFound("nope")) { try store.count(list: "nope", segment: nil) }
    }
}

