import Foundation
import MailMessage
import Testing
@testable import Campaigns

/// `track:` in a campaign file: off unless asked for, checked where it cannot work,
/// carried by `campaign update`, and refused at send without `web.public_url`.
@Suite struct TrackingCampaignTests {
    static let secret = String(repeating: "k", count: 40)

    /// A folder with an HTML template and the campaign file `body` (a list `customers`
    /// is added to the store only by the tests that need it).
    func files(_ body: String) throws -> (folder: String, file: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("track-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "<p>Hi {{name}} <a href=\"https://shop.example/x\">x</a> {{view_url}}</p>\n".write(toFile: folder + "/t.html.mustache", atomically: true, encoding: .utf8)
        try "Hi\n".write(toFile: folder + "/t.txt.mustache", atomically: true, encoding: .utf8)
        let file = folder + "/spring.yml"
        try ("""
            name: spring
            list: customers
            from: news@shop.example
            subject: Hi
            unsubscribe: "https://shop.example/u/{{unsubscribe_token}}"

            """ + body).write(toFile: file, atomically: true, encoding: .utf8)
        return (folder, file)
    }

    @Test func trackingIsOffUnlessTheFileAsksAndNeedsAnHTMLPartAndOneMessagePerRecipient() throws {
        let (_, plain) = try files("html: t.html.mustache\n")
        #expect(try CampaignDefinition.load(path: plain).track == nil)
        let (_, both) = try files("html: t.html.mustache\ntrack: { opens: true, clicks: true }\n")
        #expect(try CampaignDefinition.load(path: both).track == .init(opens: true, clicks: true))
        let (_, opens) = try files("html: t.html.mustache\ntrack:\n  opens: true\n")
        #expect(try CampaignDefinition.load(path: opens).track == .init(opens: true, clicks: false))
        let (_, off) = try files("html: t.html.mustache\ntrack: { opens: false, clicks: false }\n")
        #expect(try CampaignDefinition.load(path: off).track == nil)

        let (_, textOnly) = try files("text: t.txt.mustache\ntrack: { clicks: true }\n")
        #expect { try CampaignDefinition.load(path: textOnly) } throws: { "\($0)".contains("no html template") && "\($0)".contains("spring.yml:7") }
        let (_, shared) = try files("html: t.html.mustache\nto: list@shop.example\ntrack: { opens: true }\n")
        #expect { try CampaignDefinition.load(path: shared) } throws: { "\($0)".contains("fixed `to:`") }
        let (_, unknown) = try files("html: t.html.mustache\ntrack: { views: true }\n")
        #expect { try CampaignDefinition.load(path: unknown) } throws: { "\($0)".contains("views") }
    }

    @Test func campaignUpdateCarriesTheSettingAndTheComposerNeedsThePublicURL() throws {
        let (store, folder) = try temporaryStore()
        try "email,name\nann@example.org,Ann\n".write(toFile: folder + "/list.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: "customers", path: folder + "/list.csv").run(in: store)
        let (_, file) = try files("html: t.html.mustache\n")
        try store.createCampaign(CampaignDefinition.load(path: file), sourcePath: file)
        #expect(try store.campaign(named: "spring").definition.track == nil)
        let (_, tracked) = try files("html: t.html.mustache\ntrack: { opens: true, clicks: true }\n")
        let update = try store.updateCampaign(CampaignDefinition.load(path: tracked), sourcePath: tracked)
        #expect(update.changed == ["html", "track"])
        let (definition, sourcePath) = try store.campaign(named: "spring")
        #expect(definition.track == .init(opens: true, clicks: true))

        let environment = ["SALVO_UNSUBSCRIBE_SECRET": Self.secret]
        var configuration = SalvoConfiguration()
        #expect { try definition.composer(campaignFile: sourcePath, configuration: configuration, environment: environment) } throws: {
            "\($0)" == "campaign 'spring' tracks opens or clicks (track:), but web.public_url is not set in the configuration (the address salvo serve answers at, such as https://shop.example)"
        }
        configuration.web.publicURL = "https://t.shop.example"
        let composer = try definition.composer(campaignFile: sourcePath, configuration: configuration, environment: environment)
        let html = try #require(composer.html(for: TemplateRecipient(email: "ann@example.org", attributes: ["name": "Ann"], id: "1", delivery: 1)))
        #expect(html.contains("href=\"https://t.shop.example/c/3.") && html.contains("https://t.shop.example/v/3.") && html.contains("/o/3."))
        // `{{view_url}}` alone needs the public URL too.
        let (_, viewOnly) = try files("html: t.html.mustache\n")
        let plain = try CampaignDefinition.load(path: viewOnly)
        #expect { try plain.composer(campaignFile: viewOnly, configuration: SalvoConfiguration(), environment: environment) } throws: {
            "\($0)".hasPrefix("campaign 'spring' uses {{view_url}}, but web.public_url is not set")
        }
    }
}
