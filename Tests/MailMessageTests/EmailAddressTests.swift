import MailMessage
import Testing

@Suite struct EmailAddressTests {
    @Test(arguments: [
        ("ann@example.com", "ann", "example.com"),
        ("Ann.Lee@Example.COM", "Ann.Lee", "example.com"),
        ("first+tag@sub.example.co.uk", "first+tag", "sub.example.co.uk"),
        ("\"john doe\"@example.org", "\"john doe\"", "example.org"),
        ("\"a@b\"@example.org", "\"a@b\"", "example.org"),
        ("o'brien@example.ie", "o'brien", "example.ie"),
        ("user@bücher.example", "user", "bücher.example"),
        ("user@BÜCHER.example", "user", "bücher.example"),
        ("x@xn--bcher-kva.example", "x", "xn--bcher-kva.example"),
    ])
    func accepts(text: String, local: String, domain: String) throws {
        let address = try EmailAddress(text)
        #expect(address.localPart == local)
        #expect(address.domain == domain)
    }

    @Test(arguments: [
        ("", EmailAddressError.empty),
        ("ann.example.com", .missingAt),
        ("@example.com", .emptyLocalPart),
        ("ann@", .emptyDomain),
        (".ann@example.com", .misplacedDot),
        ("ann.@example.com", .misplacedDot),
        ("a..b@example.com", .misplacedDot),
        ("ann@localhost", .singleLabelDomain),
        ("ann@example..com", .emptyLabel),
        ("ann@-example.com", .hyphenAtLabelEdge),
        ("ann@[192.0.2.1]", .addressLiteral),
        ("jürgen@example.de", .nonASCIILocalPart),
        ("ann lee@example.com", .invalidCharacter(" ", inDomain: false)),
        ("ann@exa_mple.com", .invalidCharacter("_", inDomain: true)),
        ("\"unclosed@example.com", .unterminatedQuote),
    ])
    func rejects(text: String, error: EmailAddressError) {
        #expect(throws: error) { try EmailAddress(text) }
    }

    @Test func enforcesLengths() {
        let local64 = String(repeating: "a", count: 64)
        #expect((try? EmailAddress("\(local64)@example.com")) != nil)
        #expect(throws: EmailAddressError.localPartTooLong(65)) { try EmailAddress("\(local64)a@example.com") }
        let label63 = String(repeating: "b", count: 63)
        #expect((try? EmailAddress("a@\(label63).com")) != nil)
        #expect(throws: EmailAddressError.labelTooLong(64)) { try EmailAddress("a@\(label63)b.com") }
        let long = "a@" + Array(repeating: label63, count: 4).joined(separator: ".")
        #expect(throws: EmailAddressError.tooLong(long.utf8.count)) { try EmailAddress(long) }
    }
}
