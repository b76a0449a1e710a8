@testable import Campaigns
import Foundation
import MailMessage
import Testing

/// `{{preferences_url}}`: made as `{{unsubscribe_url}}` is, from the campaign's
/// `preferences:` template or derived from its `salvo serve` unsubscribe link.
@Suite struct PreferencesURLTests {
    private func definition(unsubscribe: String?, preferences: String? = nil) -> CampaignDefinition {
        var definition = CampaignDefinition(name: "spring-sale", list: "customers", segment: nil, from: "news@shop.example",
                                            subject: "Hi", text: nil)
        definition.unsubscribe = unsubscribe
        definition.preferences = preferences
        return definition
    }

    private func template(_ body: String, _ definition: CampaignDefinition) throws -> MessageTemplate {
        try MessageTemplate(subject: TemplateSource(name: "s", text: "Hi"), html: nil, text: TemplateSource(name: "body.txt", text: body),
                            unsubscribeURL: definition.unsubscribe.map { TemplateSource(name: "u", text: $0) },
                            preferencesURL: definition.preferencesURL.map { TemplateSource(name: "p", text: $0) })
    }

    @Test func theLinkIsDerivedFromTheUnsubscribeLinkAndCarriesTheRecipientsToken() throws {
        let definition = definition(unsubscribe: "https://shop.example/u/{{unsubscribe_token}}")
        #expect(definition.preferencesURL == "https://shop.example/p/{{unsubscribe_token}}")
        let template = try template("Manage: {{preferences_url}}\n", definition)
        let composer = try MessageComposer(template: template, settings: CampaignMessageSettings(
            campaign: "spring-sale", list: "customers", from: try Mailbox(parsing: "news@shop.example"),
            unsubscribeSecret: unsubscribeSecret), signer: nil)
        let text = try #require(template.render(composer.values(for: TemplateRecipient(email: "ann@example.org"))).text)
        let token = try #require(text.components(separatedBy: "https://shop.example/p/").last?.trimmingCharacters(in: .newlines))
        #expect(text.hasPrefix("Manage: https://shop.example/p/"))
        #expect(UnsubscribeToken.verify(token, campaign: "spring-sale", recipient: "ann@example.org", secret: unsubscribeSecret))
        #expect(!text.contains("ann@example.org"))
    }

    @Test func anExplicitPreferencesLinkWins() throws {
        let definition = definition(unsubscribe: "https://shop.example/u/{{unsubscribe_token}}",
                                    preferences: "https://prefs.shop.example/{{list}}/{{unsubscribe_token}}")
        let template = try template("{{preferences_url}}", definition)
        #expect(template.usesUnsubscribeToken)
        #expect(template.render(["list": "customers", "unsubscribe_token": "T"]).text == "https://prefs.shop.example/customers/T")
    }

    @Test func usingTheFieldWithoutAnyLinkIsRefusedNamingFileAndLine() throws {
        let definition = definition(unsubscribe: "https://elsewhere.example/unsub?t={{unsubscribe_token}}")
        #expect(definition.preferencesURL == nil)
        #expect { try template("Hello\n{{preferences_url}}\n", definition) } throws: { error in
            let error = error as? TemplateError
            return error?.kind == .missingPreferencesURL && error?.file == "body.txt" && error?.line == 2
        }
        // A campaign that never uses the field needs no such link.
        #expect(try template("Hello\n", definition).render([:]).text == "Hello\n")
    }
}
