import Foundation
import Testing
import MailMessage

@Suite struct TrackingTokenTests {
    let maker = TrackingToken.Maker(secret: Array("a secret of reasonable length, 32 bytes or more".utf8))

    @Test func aClickTokenNamesItsDeliveryAndLinkAndVerifiesOnlyWithItsOwnTarget() throws {
        let token = maker.click(delivery: 4711, position: 3, target: "https://shop.example/sale?x=1")
        #expect(token.hasPrefix("3."))
        let claim = try #require(maker.read(token, kind: .click))
        #expect(claim == TrackingToken.Claim(kind: .click, delivery: 4711, position: 3))
        #expect(maker.verify(token, claim: claim, target: "https://shop.example/sale?x=1"))
        // Another target, another position or another delivery is refused.
        #expect(!maker.verify(token, claim: claim, target: "https://evil.example/"))
        #expect(!maker.verify(token, claim: TrackingToken.Claim(kind: .click, delivery: 4711, position: 2), target: "https://shop.example/sale?x=1"))
        #expect(!maker.verify(token, claim: TrackingToken.Claim(kind: .click, delivery: 4712, position: 3), target: "https://shop.example/sale?x=1"))
        // The same link of the same delivery is the same token: a message composed again
        // is the same bytes.
        #expect(token == maker.click(delivery: 4711, position: 3, target: "https://shop.example/sale?x=1"))
        // A token of one kind is not read as another.
        #expect(maker.read(token, kind: .open) == nil && maker.read(token, kind: .view) == nil)
        #expect(maker.read(maker.open(delivery: 4711), kind: .click) == nil)
    }

    /// Tokens are in sent mail, and a message composed again must be the same bytes: the
    /// form is fixed. Computed with Python's `hmac` and `hashlib` from the definition above
    /// (HKDF-SHA256 key, the bytes and the target's SHA-256 under HMAC-SHA256), not with
    /// Salvo.
    @Test func tokensMatchIndependentlyComputedVectors() {
        let maker = TrackingToken.Maker(secret: Array("a secret of reasonable length".utf8))
        #expect(maker.click(delivery: 42, position: 3, target: "https://shop.example/deals?c=spring") == "3.YwAAAAAAAAAqAAO4fGedxcQS1tINy_e8vr2p")
        #expect(maker.open(delivery: 42) == "3.bwAAAAAAAAAq0fZkSb7PuX2W1LAIzcGzBA")
        #expect(maker.view(delivery: 7) == "3.dgAAAAAAAAAHcRxMZZ2SdOYONZdRz1uecg")
    }

    @Test func everyEditedOrTruncatedTokenIsRefused() throws {
        for token in [maker.click(delivery: 12, position: 0, target: "https://a.example/"), maker.open(delivery: 12), maker.view(delivery: 12)] {
            let kind: TrackingToken.Kind = token == maker.open(delivery: 12) ? .open : token == maker.view(delivery: 12) ? .view : .click
            let target = kind == .click ? "https://a.example/" : nil
            let claim = try #require(maker.read(token, kind: kind))
            #expect(maker.verify(token, claim: claim, target: target))
            for length in 0..<token.count {
                let cut = String(token.prefix(length))
                if let claim = maker.read(cut, kind: kind) { #expect(!maker.verify(cut, claim: claim, target: target)) }
            }
            let characters = Array(token)
            for index in characters.indices {
                for replacement in ["A", "b", "0", "-", "_"] where String(characters[index]) != replacement {
                    var edited = characters
                    edited[index] = Character(replacement)
                    let text = String(edited)
                    if let claim = maker.read(text, kind: kind) { #expect(!maker.verify(text, claim: claim, target: target), "\(text)") }
                }
            }
            // Another secret's maker reads the form but refuses the MAC.
            let other = TrackingToken.Maker(secret: Array("another secret, also of reasonable length".utf8))
            #expect(!other.verify(token, claim: claim, target: target))
        }
    }
}
