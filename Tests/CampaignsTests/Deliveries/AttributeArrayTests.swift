@testable import Campaigns
import Foundation
import Testing

@Suite struct AttributeArrayTests {
    static let samples = [
        #"[]"#,
        #"["Ann","NG",null]"#,
        #" [ "a" , null , "b" ] "#,
        #"["Ivy, Jr.","N\"G","back\\slash","a\/b","tab\there","line\nbreak","\u00e9t\u00E9","\ud83d\ude00","\u0001"]"#,
        #"["caf\u00e9 ünïcode ✓","日本"]"#,
    ]

    @Test(arguments: samples) func agreesWithJSONDecoder(text: String) throws {
        let columns = (0..<12).map { "c\($0)" }
        let expected = try JSONDecoder().decode([String?].self, from: Data(text.utf8))
        var dictionary: [String: String] = [:]
        for (index, value) in expected.enumerated() { if let value { dictionary[columns[index]] = value } }
        #expect(AttributeArray.dictionary(text, columns: columns) == dictionary)
    }

    @Test func otherShapesFallBackOrGiveNothing() {
        #expect(AttributeArray.dictionary(#"[1,"a"]"#, columns: ["x", "y"]) == [:])  // not strings: JSONDecoder refuses too
        #expect(AttributeArray.dictionary(#"["a""#, columns: ["x"]) == [:])
        #expect(AttributeArray.dictionary(#"["a","b","c"]"#, columns: ["x"]) == ["x": "a"])  // more values than columns
    }
}
