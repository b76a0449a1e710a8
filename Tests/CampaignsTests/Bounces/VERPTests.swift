import BounceFixtures
@testable import Campaigns
import Foundation
import Testing

@Suite struct VERPTests {
    @Test func tokensRoundTripAndForgeriesMatchNothing() {
        let verp = VERPAddress(domain: "shop.test", secret: Array(BounceFixtures.verpSecret.utf8))
        let address = verp.address(for: 42)
        #expect(address.hasPrefix("bounces+42-") && address.hasSuffix("@shop.test"))
        #expect(verp.deliveryID(in: address) == 42)
        #expect(verp.deliveryID(in: address.uppercased()) == 42)  // an MTA that folds case
        let tag = address.split(separator: "-")[1].prefix(16)
        #expect(verp.deliveryID(in: "bounces+43-\(tag)@shop.test") == nil)  // another id, same tag
        #expect(verp.deliveryID(in: "bounces+42-0123456789abcdef@shop.test") == nil)
        #expect(verp.deliveryID(in: "bounces@shop.test") == nil)
        #expect(VERPAddress(secret: Array("another".utf8)).deliveryID(in: address) == nil)
        // The script that made the fixtures computes the same tags.
        #expect(verp.address(for: 1) == "bounces+1-cd8b2368b89848e7@shop.test")
    }

    @Test func configuration() throws {
        let on = try SalvoConfiguration(yaml: YAMLValue.parse("verp: true\n", file: "salvo.yml"))
        #expect(on.verp == SalvoConfiguration.VERPSettings())
        #expect(on.verpSecretEnv == "SALVO_UNSUBSCRIBE_SECRET")
        let mapped = try SalvoConfiguration(yaml: YAMLValue.parse(
            "verp:\n  bounce_domain: Bounces.Shop.Example\n  secret_env: VERP_KEY\n", file: "salvo.yml"))
        #expect(mapped.verp?.bounceDomain == "bounces.shop.example")
        #expect(mapped.verpSecretEnv == "VERP_KEY")
        #expect(try SalvoConfiguration(yaml: YAMLValue.parse("verp: false\n", file: "salvo.yml")).verp == nil)
        #expect(throws: ConfigurationError.self) { try SalvoConfiguration(yaml: YAMLValue.parse("verp: { colour: red }\n", file: "salvo.yml")) }

        let from = try MailMessage.Mailbox(parsing: "Shop <news@Shop.Test>")
        let address = try #require(try on.verpAddress(from: from, environment: ["SALVO_UNSUBSCRIBE_SECRET": "k"]))
        #expect(address.domain == "shop.test")  // the From domain by default
        #expect(throws: ConfigurationError.self) { try on.verpAddress(from: from, environment: [:]) }
        #expect(try SalvoConfiguration().verpAddress(from: from, environment: [:]) == nil)
    }
}

import MailMessage
