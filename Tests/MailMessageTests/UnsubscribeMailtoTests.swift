import Foundation
import Testing
@testable import MailMessage

@Suite struct UnsubscribeMailtoTests {
    static let secret = Array("mailto-test-secret-of-thirty-two-bytes!!".utf8)

    /// The header carries the recipient's token in the subject, `%20` for the space, and
    /// reading the subject a mail client writes from that URI gives the token back.
    @Test func theHeaderCarriesTheTokenAndItsSubjectReadsBack() throws {
        let token = UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: Self.secret)
        var message = try sampleMessage()
        message.unsubscribe?.mailtoToken = token
        let header = try #require(try message.serialized().header("List-Unsubscribe")?.unfoldedValue)
        #expect(header == "<https://shop.example/u/abc>, <mailto:unsubscribe@shop.example?subject=unsubscribe%20\(token)>")

        let query = try #require(header.split(separator: "?").last.map { String($0.dropLast()) })
        let subject = try #require(URLComponents(string: "mailto:x@y?" + query)?.queryItems?.first { $0.name == "subject" }?.value)
        #expect(subject == "unsubscribe \(token)")
        let request = try #require(UnsubscribeMailto.request(inSubject: subject))
        #expect(request.token == token)
        #expect(UnsubscribeToken.verify(try #require(request.token), secret: Self.secret)! == ("spring-sale", "ann@example.org"))
    }

    @Test func everyByteButTheUnreservedIsPercentEncoded() {
        #expect(UnsubscribeMailto.query(token: nil) == "?subject=unsubscribe")
        #expect(UnsubscribeMailto.query(token: "2.aZ09-_") == "?subject=unsubscribe%202.aZ09-_")
        // The first token form has dots; nothing a token holds can end the URI or the header.
        #expect(UnsubscribeMailto.query(token: "a>b,c\r\n&d=é") == "?subject=unsubscribe%20a%3Eb%2Cc%0D%0A%26d%3D%C3%A9")
    }

    @Test func subjectsThatAskAndSubjectsThatDoNot() {
        #expect(UnsubscribeMailto.request(inSubject: "unsubscribe 2.abc") == .init(token: "2.abc"))
        #expect(UnsubscribeMailto.request(inSubject: "Re: AW: UNSUBSCRIBE  2.abc ") == .init(token: "2.abc"))
        #expect(UnsubscribeMailto.request(inSubject: "Unsubscribe") == .init(token: nil))
        #expect(UnsubscribeMailto.request(inSubject: "unsubscribe me from everything please") == nil)
        #expect(UnsubscribeMailto.request(inSubject: "Out of office") == nil)
        #expect(UnsubscribeMailto.request(inSubject: "") == nil)
    }
}
