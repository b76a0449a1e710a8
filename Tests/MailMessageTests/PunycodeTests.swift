import Testing
@testable import MailMessage

@Suite struct PunycodeTests {
    /// RFC 3492 §7.1 sample strings.
    static let vectors: [(String, String)] = [
        ("\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}", "egbpdaj6bu4bxfgehfvwxn"),
        ("\u{4ED6}\u{4EEC}\u{4E3A}\u{4EC0}\u{4E48}\u{4E0D}\u{8BF4}\u{4E2D}\u{6587}", "ihqwcrb4cv8a8dqg056pqjye"),
        ("\u{4ED6}\u{5011}\u{7232}\u{4EC0}\u{9EBD}\u{4E0D}\u{8AAA}\u{4E2D}\u{6587}", "ihqwctvzc91f659drss3x8bo0yb"),
        ("Pro\u{010D}prost\u{011B}nemluv\u{00ED}\u{010D}esky", "Proprostnemluvesky-uyb24dma41a"),
        ("3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}", "3B-ww4c5e180e575a65lsy2b"),
        ("\u{5B89}\u{5BA4}\u{5948}\u{7F8E}\u{6075}-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"),
        ("\u{30D1}\u{30D5}\u{30A3}\u{30FC}de\u{30EB}\u{30F3}\u{30D0}", "de-jg4avhby1noc0d"),
        ("\u{305D}\u{306E}\u{30B9}\u{30D4}\u{30FC}\u{30C9}\u{3067}", "d9juau41awczczp"),
        ("-> $1.00 <-", "-> $1.00 <--"),
    ]

    @Test(arguments: vectors)
    func encodesRFC3492Samples(_ vector: (String, String)) {
        #expect(Punycode.encode(vector.0) == vector.1)
    }

    @Test(arguments: vectors)
    func decodesRFC3492Samples(_ vector: (String, String)) {
        #expect(Punycode.decode(vector.1) == vector.0)
    }

    @Test func convertsDomainsToASCII() throws {
        #expect(try Punycode.toASCII(domain: "bücher.example") == "xn--bcher-kva.example")
        #expect(try Punycode.toASCII(domain: "MÜNCHEN.de") == "xn--mnchen-3ya.de")
        #expect(try Punycode.toASCII(domain: "shop.example") == "shop.example")
        // Decomposed ü (u + combining diaeresis) normalises to the same label.
        #expect(try Punycode.toASCII(domain: "bu\u{0308}cher.example") == "xn--bcher-kva.example")
        #expect(try Punycode.toASCII(domain: "例え。テスト") == "xn--r8jz45g.xn--zckzah")
        #expect(Punycode.toUnicode(domain: "xn--bcher-kva.example") == "bücher.example")
    }

    @Test func rejectsLabelsTooLongOnceEncoded() {
        #expect(throws: PunycodeError.self) { try Punycode.toASCII(domain: String(repeating: "ü", count: 60) + ".example") }
    }

    @Test func rejectsMalformedInput() {
        #expect(Punycode.decode("abc-!!") == nil)
        #expect(Punycode.decode("99999999999999999999") == nil)
    }
}
