import Foundation
import Testing
import MailMessage

@Suite struct UnsubscribeTokenTests {
    let secret = Array("a secret of reasonable length".utf8)

    @Test func verifiesItsOwnTokens() throws {
        let token = UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: secret)
        #expect(token.hasPrefix("4."))
        #expect(token.utf8.allSatisfy { $0 < 0x80 && ($0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122)) })
        let found = try #require(UnsubscribeToken.verify(token, secret: secret))
        #expect(found.campaign == "spring-sale" && found.recipient == "ann@example.org")
        #expect(UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: "ann@example.org", secret: secret))
        #expect(!UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: "bob@example.org", secret: secret))
        // The same recipient of the same campaign gets the same token: a message composed
        // again is the same bytes.
        #expect(token == UnsubscribeToken.Maker(campaign: "spring-sale", secret: secret).make(recipient: "ann@example.org"))
        #expect(token != UnsubscribeToken.make(campaign: "spring-sale", recipient: "bob@example.org", secret: secret))
    }

    /// A message composed again must be the same bytes: the sealed form is fixed. These
    /// vectors were computed with Python's `hmac` and `hashlib` from the form's definition
    /// (HKDF-SHA256 keys, an HMAC-SHA256 IV, an HMAC-SHA256 keystream), not with Salvo,
    /// so a change in how a token is computed that alters one byte fails here. One Maker
    /// makes several tokens, as the send does, so a MAC state shared between tokens would
    /// show too; the long address needs three keystream blocks.
    @Test func sealedTokensMatchIndependentlyComputedVectors() {
        let maker = UnsubscribeToken.Maker(campaign: "spring-sale", secret: secret)
        #expect(maker.make(recipient: "ann@example.org") == "4.gXFmScI-osSqowViCiLqdGu-0f2cOmie0KTEwNiMTgqS8fV6ryFoFF52YiWMuA")
        #expect(maker.make(recipient: "bob@example.org") == "4.iKhJNGdBKegbD97rB1fe1E4dgrw4V0auLDDz58-UnzsIOvx0XTDVnU0XtGZc2w")
        #expect(maker.make(recipient: "ann@example.org") == "4.gXFmScI-osSqowViCiLqdGu-0f2cOmie0KTEwNiMTgqS8fV6ryFoFF52YiWMuA")
        #expect(maker.make(recipient: "a-very-long-local-part-to-need-a-third-block@subdomain.example.org")
                == "4.WY6mEZxbIuplAl3uuiESWQIMQpO45A4sc59KGTmm6s0GPSNU3J4vHl1ulX3VbhpB_5geO6VQA5g9w8RmFrEqeM4wyR9zC59RmgRd8_pTLKtwYB7aMFY8N_J2QqjoJi6rHg")
        #expect(UnsubscribeToken.make(campaign: "übung", recipient: "zoë@exämple.org", secret: secret)
                == "4.G0MY9MmnkOku22nYhLOOUUSSeN19UqXC1Xhgd2ONq8-1f7i23fRCcE0aVw")
    }

    /// Tokens of the AES-GCM form are in mail sent before: they keep unsubscribing their
    /// recipient, and stay as hard to alter. These were made by Salvo's earlier releases
    /// and checked against Python's `cryptography` then.
    @Test func tokensOfTheGCMFormKeepVerifying() throws {
        let sent = [
            ("2.qBmSej_X6zIiIWhIn66kbfV0LQx9NnrgOcs-bSxqt5H1ZqIwz1A7iO8cJGHBVhsY1YrsukVe8gv6tg", "spring-sale", "ann@example.org"),
            ("2.3wPJjIaYXASbMJSny30yrHWV2AIhesAXp8CczIGKcs6-UWUUvHvMdRtL4LM-SqINj-zB6x1XRaRdww", "spring-sale", "bob@example.org"),
            ("2.sDbNQTYZ5c1b5o5XYht9lFD918kczni8VNkFVZTLW4h5_h9vWmuQ5ZmfkmZob1BguarMaZVEcA", "übung", "zoë@exämple.org"),
        ]
        for (token, campaign, recipient) in sent {
            let found = try #require(UnsubscribeToken.verify(token, secret: secret))
            #expect(found.campaign == campaign && found.recipient == recipient)
            #expect(UnsubscribeToken.verify(token, secret: Array("another secret".utf8)) == nil)
            #expect(UnsubscribeToken.verify(String(token.dropLast()), secret: secret) == nil)
            let characters = Array(token)
            for index in characters.indices.dropFirst(2) {
                var altered = characters
                altered[index] = altered[index] == "A" ? "B" : "A"
                #expect(UnsubscribeToken.verify(String(altered), secret: secret) == nil, "altered at \(index)")
            }
        }
    }

    @Test func refusesForgedAlteredAndTruncatedTokens() throws {
        let token = UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: secret)
        #expect(UnsubscribeToken.verify(token, secret: Array("another secret".utf8)) == nil)
        #expect(UnsubscribeToken.verify("garbage", secret: secret) == nil)
        #expect(UnsubscribeToken.verify("2.", secret: secret) == nil)
        #expect(UnsubscribeToken.verify("4.", secret: secret) == nil)
        // A token of one form under the other's prefix is refused.
        #expect(UnsubscribeToken.verify("2." + token.dropFirst(2), secret: secret) == nil)
        #expect(UnsubscribeToken.verify("", secret: secret) == nil)
        // Every shorter prefix, and every single character changed, is refused.
        for length in 0..<token.count {
            #expect(UnsubscribeToken.verify(String(token.prefix(length)), secret: secret) == nil)
        }
        let characters = Array(token)
        for index in characters.indices.dropFirst(2) {
            var altered = characters
            altered[index] = altered[index] == "A" ? "B" : "A"
            #expect(UnsubscribeToken.verify(String(altered), secret: secret) == nil, "altered at \(index)")
        }
        #expect(UnsubscribeToken.make(campaign: "ab", recipient: "c", secret: secret) != UnsubscribeToken.make(campaign: "a", recipient: "bc", secret: secret))
        let split = try #require(UnsubscribeToken.verify(UnsubscribeToken.make(campaign: "a", recipient: "bc", secret: secret), secret: secret))
        #expect(split.campaign == "a" && split.recipient == "bc")
    }

    /// A link is read by scanners, proxies and logs: the address must not be in it,
    /// neither as written nor in any of the encodings a URL or a mail header uses.
    @Test func noTokenContainsTheAddressInAnyEncoding() {
        let addresses = ["ann@example.org", "Bob.Smith+news@Shop.Example", "ü@bücher.example", "a@b.c"]
        for address in addresses {
            let token = UnsubscribeToken.make(campaign: "spring-sale", recipient: address, secret: secret)
            for form in Self.encodings(of: address) where form.count >= 4 {
                #expect(!token.lowercased().contains(form.lowercased()), "\(address) shows in \(token) as \(form)")
            }
            // The local part alone, and the domain alone, are hidden too.
            let parts = address.split(separator: "@").map(String.init)
            for part in parts {
                for form in Self.encodings(of: part) where form.count >= 4 {
                    #expect(!token.lowercased().contains(form.lowercased()), "\(part) shows in \(token) as \(form)")
                }
            }
        }
    }

    /// Tokens in mail sent before the sealed form: `campaign.recipient.mac`, made with
    /// the same secret, keep unsubscribing their recipient.
    @Test func tokensOfTheFirstFormKeepVerifying() throws {
        let sent = "c3ByaW5nLXNhbGU.YW5uQGV4YW1wbGUub3Jn.q5JQ5F-PuGPIIkwTMEtSHQ"
        let found = try #require(UnsubscribeToken.verify(sent, secret: secret))
        #expect(found.campaign == "spring-sale" && found.recipient == "ann@example.org")
        // Its MAC still binds it: another recipient in the middle part is refused.
        let bob = Data("bob@example.org".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        #expect(UnsubscribeToken.verify("c3ByaW5nLXNhbGU.\(bob).q5JQ5F-PuGPIIkwTMEtSHQ", secret: secret) == nil)
        #expect(UnsubscribeToken.verify(String(sent.dropLast()), secret: secret) == nil)
        #expect(UnsubscribeToken.verify(sent, secret: Array("another secret".utf8)) == nil)
    }

    /// The text as written, lower-cased, hex, percent-encoded and base64 (standard and
    /// URL-safe) at each of the three alignments a surrounding encoder could put it at.
    static func encodings(of text: String) -> [String] {
        let bytes = Array(text.utf8)
        var forms = [text, text.lowercased()]
        forms.append(bytes.map { String(format: "%02x", $0) }.joined())
        forms.append(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text)
        for shift in 0..<3 {
            let padded = Array(repeating: UInt8(0), count: shift) + bytes
            var encoded = Data(padded).base64EncodedString()
            // Drop the characters that depend on the bytes before and after.
            let lead = shift == 0 ? 0 : (shift * 8 + 5) / 6
            encoded = String(encoded.dropFirst(lead))
            while encoded.hasSuffix("=") { encoded.removeLast() }
            encoded = String(encoded.dropLast(2))
            forms.append(encoded)
            forms.append(encoded.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
        }
        return forms
    }
}
