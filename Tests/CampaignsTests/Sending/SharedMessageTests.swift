@testable import Campaigns
import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

/// A campaign with a fixed `to:` sends one message to many: recipients of one site share
/// transactions, up to `recipients_per_transaction`, each with its own RCPT and outcome.
@Suite struct SharedMessageTests {
    func campaign(in folder: String, to: String?, text: String) throws -> String {
        try text.write(toFile: folder + "/news.txt.mustache", atomically: true, encoding: .utf8)
        let path = folder + "/news.yml"
        try """
            name: news
            list: readers
            from: "Shop <news@shop.test>"
            \(to.map { "to: \"\($0)\"" } ?? "")
            subject: "News for {{list}}"
            text: news.txt.mustache
            unsubscribe: "https://shop.test/u"
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func recipientsOfOneSiteShareTransactions() async throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let readers = ["a1", "a2", "perm-a3", "a4", "a5", "a6", "a7"].map { "\($0)@shared.test" }
        _ = try ListImport(listName: "readers", path: writeFile(Array(("email\n" + readers.joined(separator: "\n") + "\n").utf8), in: folder)).run(in: store)
        let path = try campaign(in: folder, to: "Readers <readers@shop.test>", text: "This week at the shop ({{campaign}}).\n")
        try store.createCampaign(CampaignDefinition.load(path: path), sourcePath: path)
        let peer = try await PythonSMTPPeer.start(["--pipelining"])
        defer { peer.stop() }

        var configuration = SalvoConfiguration()
        configuration.helo = "engine.test"
        configuration.delivery.tls = "none"
        configuration.delivery.routes = ["shared.test": .init(host: "127.0.0.1", port: peer.port)]
        configuration.limits.default.recipientsPerTransaction = 3
        configuration.limits.default.connections = 1
        let (definition, source) = try store.campaign(named: "news")
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
        let renderer = CampaignRenderer(composer: composer)
        #expect(renderer.sharesMessages)
        var settings = DeliveryEngine.Settings(owner: "test:shared", mx: configuration.mxSession(), retry: RetryPolicy())
        settings.mx.timeouts = .uniform(.seconds(5))
        let engine = DeliveryEngine(store: store, router: configuration.router(), renderer: renderer,
                                    policy: try configuration.deliveryPolicy(), settings: settings)
        let start = try store.startCampaign(named: "news")
        let summary = try await engine.run(campaign: start.campaignID)

        #expect(summary.sent == 6 && summary.bounced == 1, "\(summary)")
        // Seven recipients (in the list's order, by address), three per transaction: the
        // third transaction's only RCPT was refused, so it carried no message.
        let messages = try peer.messages()
        #expect(messages.map(\.rcpt_tos) == [["a1@shared.test", "a2@shared.test", "a4@shared.test"], ["a5@shared.test", "a6@shared.test", "a7@shared.test"]])
        let body = String(decoding: messages.first?.bytes ?? [], as: UTF8.self)
        #expect(body.contains("\r\nTo: \"Readers\" <readers@shop.test>\r\n"))
        #expect(!body.contains("a1@shared.test"))
        let report = Dictionary(uniqueKeysWithValues: try store.deliveryReport(campaign: "news").map { ($0.email, $0) })
        #expect(report["perm-a3@shared.test"]?.status == "bounced")
        #expect(report["perm-a3@shared.test"]?.enhancedCode == "5.1.1")
        #expect(readers.filter { !$0.hasPrefix("perm-") }.allSatisfy { report[$0]?.status == "sent" && report[$0]?.attempts == 1 })
        // The recipients of one transaction carry the same Message-ID.
        #expect(report["a1@shared.test"]?.messageID == report["a4@shared.test"]?.messageID)
        #expect(report["a1@shared.test"]?.messageID != report["a5@shared.test"]?.messageID)
    }

    @Test func aSharedMessageMayNotUseARecipientsFields() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try ListImport(listName: "readers", path: writeFile(Array("email,first_name\na@x.test,Ann\n".utf8), in: folder)).run(in: store)
        let path = try campaign(in: folder, to: "readers@shop.test", text: "Hi\n{{first_name}}\n")
        #expect { try store.createCampaign(CampaignDefinition.load(path: path), sourcePath: path) } throws: { error in
            guard let error = error as? TemplateError else { return false }
            return error.kind == .personalFieldInSharedMessage("first_name") && error.line == 2
                && error.description.contains("news.txt.mustache:2: field 'first_name'")
        }
        // Without `to:` the same template is a personal campaign, and fine.
        let personal = try campaign(in: folder, to: nil, text: "Hi\n{{first_name}}\n")
        try store.createCampaign(CampaignDefinition.load(path: personal), sourcePath: personal)
    }
}
