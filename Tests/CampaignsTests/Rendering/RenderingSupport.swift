import Foundation
import TestPeers
import MailMessage
@testable import Campaigns


let renderDate = Date(timeIntervalSince1970: 1_795_607_231)

/// A templates folder on disk, removed when the value is dropped.
final class TemplateFolder {
    let url: URL
    var path: String { url.path }

    init(_ files: [String: String]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-templates-\(UUID().uuidString)")
        for (name, text) in files {
            let file = url.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: file)
        }
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The test campaign: HTML and text with a partial, sections, and every kind of field.
func springSaleFolder() throws -> TemplateFolder {
    try TemplateFolder([
        "spring-sale.html.mustache": """
            <html><body>
            <h1>Hello {{first_name}},</h1>
            {{#city}}<p>Deals near {{city}} for you.</p>{{/city}}
            <p>Your code: <b>{{code}}</b></p>
            {{> footer}}
            </body></html>
            """,
        "spring-sale.txt.mustache": """
            Hello {{first_name}},

            {{#city}}Deals near {{city}} for you.{{/city}}
            Your code: {{code}}
            {{> footer}}
            """,
        "footer.mustache": "Unsubscribe: {{unsubscribe_url}} ({{campaign}}/{{list}})\n",
    ])
}

func springSaleTemplate(_ folder: TemplateFolder, html: Bool = true, text: Bool = true) throws -> MessageTemplate {
    try MessageTemplate(
        subject: TemplateSource(name: "subject in spring-sale.yml", text: "{{first_name}}, spring deals in {{city}}"),
        html: html ? TemplateSource.file(folder.file("spring-sale.html.mustache")) : nil,
        text: text ? TemplateSource.file(folder.file("spring-sale.txt.mustache")) : nil,
        unsubscribeURL: TemplateSource(name: "unsubscribe in spring-sale.yml", text: "https://shop.example/u/{{unsubscribe_token}}"),
        partialsDirectory: folder.path
    )
}

let unsubscribeSecret = Array("test-secret-for-unsubscribe-tokens".utf8)

func springSaleSettings() throws -> CampaignMessageSettings {
    CampaignMessageSettings(
        campaign: "spring-sale", list: "customers",
        from: try Mailbox(parsing: "Shop <news@shop.example>"),
        unsubscribeMailto: try Mailbox(address: "unsubscribe@shop.example"),
        unsubscribeSecret: unsubscribeSecret
    )
}
