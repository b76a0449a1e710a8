import Foundation
import GRDB
import MailMessage

/// `salvo send CAMPAIGN --test-to SEED…`: one recipient's exact message, its subject
/// prefixed `[test] `, sent to seed addresses through the route the configuration gives
/// their domains (routes, relay or MX, as notices go), so a person sees what the
/// recipient will. Each send is recorded in `test_sends`; the campaign's deliveries,
/// state and quota are never touched.
/// What a test send asks of a store: the checked campaign, a recipient of its list, and
/// the record of each send, so `--test-to` works on SQLite and on PostgreSQL alike.
public protocol TestSendStore: CampaignSendingStore, CampaignCatalogStore, NoticeStore {
    /// Records one seed's outcome in `test_sends`, apart from the campaign's deliveries.
    func recordTestSend(campaign name: String, recipient: String, result: TestSend.Result, at time: Date) async throws
}

public struct TestSend: Sendable {
    public static let subjectPrefix = "[test] "

    private let store: any TestSendStore
    private let configuration: SalvoConfiguration
    private let environment: [String: String]

    public init(store: any TestSendStore, configuration: SalvoConfiguration,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.store = store
        self.configuration = configuration
        self.environment = environment
    }

    /// What happened at one seed address.
    public struct Result: Sendable, Equatable {
        public var seed: String
        public enum Outcome: String, Sendable { case sent, failed, unknown }
        public var outcome: Outcome
        /// The server's reply or the error.
        public var detail: String
        public var messageID: String

        public init(seed: String, outcome: Outcome, detail: String, messageID: String) {
            self.seed = seed
            self.outcome = outcome
            self.detail = detail
            self.messageID = messageID
        }
    }

    /// What was sent, and where.
    public struct Report: Sendable {
        /// Whose message it was.
        public var recipient: String
        public var subject: String
        public var results: [Result]
        public var warnings: [String]
    }

    /// Sends `recipient`'s message (the first the segment selects when nil) to every seed.
    ///
    /// - Throws: when the campaign does not pass its checks, a seed is not an address,
    ///   or the recipient is not in the campaign's list.
    public func send(campaign name: String, recipient: String?, to seeds: [String], now: Date = Date()) async throws -> Report {
        let checked = try await store.checkedCampaign(named: name, configuration: configuration, environment: environment)
        let addresses = try seeds.map { seed in
            do { return try EmailAddress(seed).description } catch { throw TestSendError.badSeed(seed, "\(error)") }
        }
        let definition = checked.definition
        guard let stored = try await store.recipient(list: definition.list, email: recipient, segment: definition.segment) else {
            if let recipient { throw TestSendError.notInList(recipient, list: definition.list) }
            throw TestSendError.nobodySelected(campaign: name, list: definition.list)
        }
        var generator = SystemRandomNumberGenerator()
        var message = try checked.composer.message(
            for: TemplateRecipient(email: stored.email, attributes: stored.attributes, id: String(stored.id)),
            date: now, using: &generator)
        message.subject = Self.subjectPrefix + message.subject
        let bytes = try MessageComposer.wireBytes(message, signers: checked.composer.signers, at: now)
        let sender = NoticeSender(store: store, configuration: configuration, environment: environment)
        let router = configuration.router()
        var results: [Result] = []
        for seed in addresses {
            let outcome = await sender.send(
                RenderedNotice(mailFrom: checked.composer.settings.from.address, rcptTo: seed,
                               messageID: message.messageID.value, bytes: bytes),
                router: router)
            let result: Result = switch outcome {
            case .sent: Result(seed: seed, outcome: .sent, detail: "accepted", messageID: message.messageID.value)
            case .inDoubt(let why): Result(seed: seed, outcome: .unknown, detail: why, messageID: message.messageID.value)
            case .failed(let why, _): Result(seed: seed, outcome: .failed, detail: why, messageID: message.messageID.value)
            }
            try await store.recordTestSend(campaign: name, recipient: stored.email, result: result, at: now)
            results.append(result)
        }
        return Report(recipient: stored.email, subject: message.subject, results: results, warnings: checked.warnings)
    }
}

extension SalvoStore: TestSendStore {
    public func recordTestSend(campaign name: String, recipient: String, result: TestSend.Result, at time: Date) throws {
        try writer.write { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            try db.execute(sql: """
                INSERT INTO test_sends (campaign_id, recipient, seed, message_id, outcome, reply, sent_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, recipient, result.seed, result.messageID, result.outcome.rawValue, result.detail, Self.seconds(time)])
        }
    }

    /// A campaign's test sends, oldest first: seed, whose message, outcome, reply, time.
    public func testSends(campaign name: String) throws -> [(seed: String, recipient: String, outcome: String, reply: String?, sentAt: Date)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT t.seed, t.recipient, t.outcome, t.reply, t.sent_at FROM test_sends t
                JOIN campaigns c ON c.id = t.campaign_id WHERE c.name = ? ORDER BY t.id
                """, arguments: [name]).map {
                (seed: $0["seed"] as String, recipient: $0["recipient"] as String, outcome: $0["outcome"] as String,
                 reply: $0["reply"] as String?, sentAt: Self.date($0["sent_at"] as Int64))
            }
        }
    }
}

/// A test send that cannot start.
public enum TestSendError: Error, CustomStringConvertible, Equatable {
    case badSeed(String, String)
    case notInList(String, list: String)
    case nobodySelected(campaign: String, list: String)

    public var description: String {
        switch self {
        case .badSeed(let seed, let why): "--test-to \(seed): not an address: \(why)"
        case .notInList(let email, let list): "\(email) is not in list '\(list)'"
        case .nobodySelected(let campaign, let list): "the segment of campaign '\(campaign)' selects nobody in list '\(list)'"
        }
    }
}
