import ArgumentParser
import Campaigns
import Foundation
import MailMessage

/// `salvo bench-compose`: how many messages one core renders, encodes and signs per
/// second. Hidden; `scripts/bench compose` runs it.
struct BenchComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-compose",
        abstract: "Measure message composition (render + MIME + DKIM) on one core.",
        shouldDisplay: false
    )

    @Option(help: "Messages to compose.")
    var count: Int = 20_000

    @Option(help: "rsa, ed25519 or none (unsigned).")
    var algorithm: String = "rsa"

    @Flag(help: "Time the DKIM signing alone (one signature over ~1 KB of canonical headers), not whole messages.")
    var signOnly = false

    @Option(help: "A PEM key to use instead of a freshly generated one.")
    var key: String?

    func run() throws {
        if signOnly {
            let key: DKIMKey = try self.key.map { try DKIMKey(contentsOfFile: $0) } ?? (algorithm == "ed25519" ? try .generate(.ed25519) : try .generate(.rsa))
            let data = [UInt8](repeating: 0x61, count: 1024)
            let start = DispatchTime.now()
            for _ in 0..<count { _ = try key.sign(data) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            print("sign \(key.algorithm.rawValue): \(count) signatures in \(String(format: "%.2f", seconds)) s = \(Int(Double(count) / seconds)) signatures/s on one core")
            return
        }
        let key: DKIMKey? = switch algorithm {
        case "rsa": try DKIMKey.generate(.rsa)
        case "ed25519": try DKIMKey.generate(.ed25519)
        case "none": nil
        default: throw ValidationError("--algorithm must be rsa, ed25519 or none")
        }
        let signer = try key.map { try DKIMSigner(domain: "shop.example", selector: "s1", key: $0) }
        let composer = try MessageComposer(
            template: BenchComposeCommand.template(),
            settings: CampaignMessageSettings(
                campaign: "spring-sale", list: "customers",
                from: try Mailbox(parsing: "Shop <news@shop.example>"),
                unsubscribeMailto: try Mailbox(address: "unsubscribe@shop.example"),
                unsubscribeSecret: Array("bench-secret-bench-secret".utf8)
            ),
            signer: signer
        )
        let recipients = (0..<1000).map { index in
            TemplateRecipient(
                email: "customer\(index)@example\(index % 50).test",
                attributes: ["first_name": index % 3 == 0 ? "Zoë" : "Ann", "last_name": "Okafor", "city": "Lagos", "points": "\(index * 7)"],
                id: "\(index)"
            )
        }
        var generator = SystemRandomNumberGenerator()
        let date = Date()
        var bytes = 0
        // Warm up, then measure.
        for recipient in recipients.prefix(50) {
            bytes &+= try composer.compose(for: recipient, date: date, using: &generator).bytes.count
        }
        bytes = 0
        let start = DispatchTime.now()
        for index in 0..<count {
            bytes &+= try composer.compose(for: recipients[index % recipients.count], date: date, using: &generator).bytes.count
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let rate = Double(count) / seconds
        print("compose \(algorithm): \(count) messages (\(bytes / count) bytes each) in \(String(format: "%.2f", seconds)) s = \(Int(rate)) messages/s on one core")
    }

    static func template() throws -> MessageTemplate {
        let paragraph = "Our spring collection has arrived, with fresh produce from farms near {{city}} and across the region. "
        let html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>Spring deals</title><style>p { font-family: sans-serif; }</style></head>
            <body>
            <h1>Hello {{first_name}},</h1>
            \(String(repeating: "<p>\(paragraph)\(paragraph)</p>\n", count: 8))
            <p>You have <strong>{{points}}</strong> points. <a href="https://shop.example/deals?c={{campaign}}">See the deals</a></p>
            <p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>
            </body></html>
            """
        let text = """
            Hello {{first_name}},

            \(String(repeating: "\(paragraph)\n\n", count: 8))
            You have {{points}} points. See the deals: https://shop.example/deals?c={{campaign}}

            Unsubscribe: {{unsubscribe_url}}
            """
        return try MessageTemplate(
            subject: TemplateSource(name: "subject", text: "{{first_name}}, spring deals for you in {{city}}"),
            html: TemplateSource(name: "bench.html", text: html),
            text: TemplateSource(name: "bench.txt", text: text),
            unsubscribeURL: TemplateSource(name: "unsubscribe", text: "https://shop.example/u/{{unsubscribe_token}}")
        )
    }
}
