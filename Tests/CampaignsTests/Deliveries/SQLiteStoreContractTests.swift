@testable import Campaigns
import Delivery
import Foundation
import GRDB
import StoreContract
import Testing

/// `DeliveryStoreContract`'s fixture for the SQLite store: a database in a folder of its
/// own, a list and a campaign made as `salvo import` and `salvo campaign create` make them.
struct SQLiteStoreFixture: DeliveryStoreFixture {
    func makeStore(_ settings: ContractSettings) async throws -> SalvoStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-contract-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let today = settings.today
        let guardRate = settings.maxBounceRate.map {
            ReputationGuard(maxBounceRate: $0, minimumAttempts: settings.minimumAttempts, interval: 0)
        }
        return try SalvoStore(path: folder + "/contract.db", reputationGuard: guardRate,
                              dailyQuota: settings.perDay.map(DailyQuota.init(perDay:)), clock: { today })
    }

    func secondHandle(on store: SalvoStore) async throws -> SalvoStore {
        try SalvoStore(path: store.path, reputationGuard: store.reputationGuard, dailyQuota: store.dailyQuota, clock: store.clock)
    }

    func startCampaign(recipients: [String], in store: SalvoStore) async throws -> Int64 {
        try await startCampaign(recipients: recipients, onList: nil, in: store)
    }

    func startCampaign(recipients: [String], onList list: String, in store: SalvoStore) async throws -> Int64 {
        try await startCampaign(recipients: recipients, onList: Optional(list), in: store)
    }

    /// The campaign's list is `list`, or one of its own named as the campaign.
    private func startCampaign(recipients: [String], onList list: String?, in store: SalvoStore) async throws -> Int64 {
        let folder = (store.path as NSString).deletingLastPathComponent
        let name = "c\(UUID().uuidString.prefix(8).lowercased())"
        let listName = list ?? name
        let csv = "email,name\n" + recipients.map { "\($0),\($0.prefix { $0 != "@" })\n" }.joined()
        _ = try ListImport(listName: listName, path: writeFile(Array(csv.utf8), in: folder, name: name + ".csv")).run(in: store)
        let template = folder + "/\(name).txt.mustache"
        try "Hello {{name}}\n".write(toFile: template, atomically: true, encoding: .utf8)
        try store.createCampaign(CampaignDefinition(name: name, list: listName, segment: nil, from: "Shop <news@shop.example>",
                                                    subject: "Hello", text: template),
                                 sourcePath: folder + "/\(name).yml")
        return try store.startCampaign(named: name, now: DeliveryStoreContract<Self>.t0).campaignID
    }

    func suppress(_ email: String, in store: SalvoStore) async throws {
        _ = try store.suppress([email], reason: .manual)
    }

    func suppress(_ email: String, onList list: String, in store: SalvoStore) async throws {
        _ = try store.suppress([email], list: list, reason: .unsubscribe)
    }

    func isSuppressed(_ email: String, in store: SalvoStore) async throws -> Bool { try store.isSuppressed(email) }

    func setControl(_ control: CampaignControl, campaign: Int64, in store: SalvoStore) async throws {
        let name = try await store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT name FROM campaigns WHERE id = ?", arguments: [campaign]) ?? ""
        }
        switch control {
        case .paused: try store.pauseCampaign(named: name)
        case .running: try store.resumeCampaign(named: name)
        case .cancelled: try store.cancelCampaign(named: name)
        default: Issue.record("the contract does not set a campaign \(control)")
        }
    }

    func remove(_ store: SalvoStore) {
        try? FileManager.default.removeItem(atPath: (store.path as NSString).deletingLastPathComponent)
    }
}

/// The SQLite store keeps every rule of the contract.
@Suite struct SQLiteStoreContractTests {
    @Test(arguments: DeliveryStoreContract<SQLiteStoreFixture>.Rule.allCases)
    func keeps(_ rule: DeliveryStoreContract<SQLiteStoreFixture>.Rule) async throws {
        try await DeliveryStoreContract(SQLiteStoreFixture()).check(rule)
    }
}
