import Crypto
import Testing
@testable import MailMessage

@Suite struct RelaxedCanonicalizationTests {
    /// RFC 6376 §3.4.6, the worked example.
    @Test func canonicalisesTheRFCExampleHeaders() {
        var output: [UInt8] = []
        RelaxedCanonicalization.header(name: "A", value: " X", into: &output)
        output += [13, 10]
        RelaxedCanonicalization.header(name: "B ", value: " Y\t\r\n\tZ  ", into: &output)
        output += [13, 10]
        // The field name keeps no whitespace before the colon in Salvo's own fields;
        // the value rules are what matters here.
        #expect(String(decoding: output, as: UTF8.self) == "a:X\r\nb :Y Z\r\n")
    }

    @Test func canonicalisesTheRFCExampleBody() {
        let body = Array(" C \r\nD \t E\r\n\r\n\r\n".utf8)
        #expect(String(decoding: RelaxedCanonicalization.body(body), as: UTF8.self) == " C\r\nD E\r\n")
    }

    @Test func handlesEmptyAndUnterminatedBodies() {
        #expect(RelaxedCanonicalization.body([]) == [])
        #expect(RelaxedCanonicalization.body(Array("\r\n\r\n".utf8)) == [])
        #expect(String(decoding: RelaxedCanonicalization.body(Array("abc  ".utf8)), as: UTF8.self) == "abc\r\n")
        #expect(String(decoding: RelaxedCanonicalization.body(Array("a\r\n  \r\nb\r\n \r\n".utf8)), as: UTF8.self) == "a\r\n\r\nb\r\n")
    }

    @Test func hashesWhatItCanonicalises() {
        let body = Array("Hello  world \r\n\r\nBye\t\r\n\r\n".utf8)
        #expect(Array(RelaxedCanonicalization.bodyHash(body)) == Array(SHA256.hash(data: RelaxedCanonicalization.body(body))))
        // The hash of an empty relaxed body is the hash of nothing.
        #expect(Base64.encode(Array(RelaxedCanonicalization.bodyHash([]))) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    }
}
