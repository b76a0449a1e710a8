@testable import Campaigns
import Delivery
import Foundation
import GRDB

/// A store in a temporary folder with one imported list and one campaign over it.
struct DeliveryFixture {
    let store: SalvoStore
    let folder: String
    let campaign = "spring"

    /// `csv` is the list file's text, header included.
    init(csv: String, segment: String? = nil, audience: CampaignDefinition.Audience? = nil) throws {
        (store, folder) = try temporaryStore()
        let path = writeFile(Array(csv.utf8), in: folder)
        _ = try ListImport(listName: "customers", path: path).run(in: store)
        let template = folder + "/spring.txt.mustache"
        try "Hello {{name}}\n".write(toFile: template, atomically: true, encoding: .utf8)
        var definition = CampaignDefinition(name: campaign, list: "customers", segment: segment,
                                            from: "Shop <news@shop.example>", subject: "Hello {{name}}", text: template)
        definition.audience = audience
        try store.createCampaign(definition, sourcePath: folder + "/spring.yml")
    }

    /// A list of `count` recipients over a few domains, with a name and a country.
    static func csv(count: Int, domains: [String] = ["a.example", "b.example", "c.example"]) -> String {
        var text = "email,name,country\n"
        for i in 0..<count {
            text += "user\(i)@\(domains[i % domains.count]),User \(i),\(i % 2 == 0 ? "NG" : "GH")\n"
        }
        return text
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }

    func id() throws -> Int64 { try store.campaignID(named: campaign) }

    /// The raw state column of every delivery, by address.
    func states() throws -> [String: String] {
        try store.writer.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT email, state FROM deliveries").map {
                ($0["email"] as String, $0["state"] as String)
            })
        }
    }

    func outcome(_ id: Int64, _ state: DeliveryState, code: Int? = 250, at seconds: TimeInterval = 1_000,
                 next: TimeInterval? = nil) -> DeliveryOutcome {
        DeliveryOutcome(deliveryID: id, state: state, code: code,
                        enhancedCode: code.map { $0 >= 500 ? "5.1.1" : $0 >= 400 ? "4.2.0" : "2.0.0" },
                        response: "\(code ?? 0) reply", mxHost: "mx.example", messageID: "<\(id)@shop.example>",
                        attemptedAt: Date(timeIntervalSince1970: seconds),
                        nextAttemptAt: next.map { Date(timeIntervalSince1970: $0) })
    }
}

func at(_ seconds: TimeInterval) -> Date { Date(timeIntervalSince1970: seconds) }
