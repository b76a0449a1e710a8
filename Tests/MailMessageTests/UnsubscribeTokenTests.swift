import Testing
import MailMessage

@Suite struct UnsubscribeTokenTests {
    let secret = Array("a secret of reasonable length".utf8)

    @Test func verifiesItsOwnTokens() throws {
        let token = UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: secret)
        #expect(token.utf8.allSatisfy { $0 < 0x80 && ($0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122)) })
        let found = try #require(UnsubscribeToken.verify(token, secret: secret))
        #expect(found.campaign == "spring-sale" && found.recipient == "ann@example.org")
        #expect(UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: "ann@example.org", secret: secret))
        #expect(!UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: "bob@example.org", secret: secret))
    }

    @Test func refusesForgedAlteredAndForeignTokens() {
        let token = UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: secret)
        let parts = token.split(separator: ".")
        let otherRecipient = UnsubscribeToken.make(campaign: "spring-sale", recipient: "bob@example.org", secret: secret).split(separator: ".")
        #expect(UnsubscribeToken.verify(token, secret: Array("another secret".utf8)) == nil)
        #expect(UnsubscribeToken.verify("\(parts[0]).\(otherRecipient[1]).\(parts[2])", secret: secret) == nil)
        #expect(UnsubscribeToken.verify(String(token.dropLast()), secret: secret) == nil)
        #expect(UnsubscribeToken.verify("garbage", secret: secret) == nil)
        #expect(UnsubscribeToken.make(campaign: "ab", recipient: "c", secret: secret) != UnsubscribeToken.make(campaign: "a", recipient: "bc", secret: secret))
    }
}
