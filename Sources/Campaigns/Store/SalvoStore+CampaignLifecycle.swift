import Foundation
import GRDB

/// What `salvo campaign update` changed.
public struct CampaignUpdate: Sendable, Equatable {
    /// The campaign file's keys whose value changed, in the file's order of keys.
    public var changed: [String]
    /// The campaign's state (unchanged by an update).
    public var state: String

    public init(changed: [String], state: String) {
        self.changed = changed
        self.state = state
    }
}

/// What `salvo campaign delete` did.
public enum CampaignRemoval: String, Sendable, Equatable {
    /// A draft or a scheduled campaign: gone.
    case deleted
    /// A finished or cancelled one: hidden from `campaign list`, its report kept.
    case archived
}

/// What `salvo campaign show` prints.
public struct CampaignDetails: Sendable {
    public var definition: CampaignDefinition
    public var sourcePath: String
    public var state: String
    public var reason: String?
    public var createdAt: Date
    public var scheduledAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var archivedAt: Date?
    /// The recipients: the deliveries once the campaign started (its audience is decided
    /// then), else how many its segment selects today.
    public var audience: Int
    /// Whether `audience` is the decided one (deliveries) or today's count of the segment.
    public var audienceDecided: Bool

    public init(definition: CampaignDefinition, sourcePath: String, state: String, reason: String?, createdAt: Date,
                scheduledAt: Date?, startedAt: Date?, finishedAt: Date?, archivedAt: Date?, audience: Int, audienceDecided: Bool) {
        self.definition = definition
        self.sourcePath = sourcePath
        self.state = state
        self.reason = reason
        self.createdAt = createdAt
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.archivedAt = archivedAt
        self.audience = audience
        self.audienceDecided = audienceDecided
    }
}

extension SalvoStore {
    /// The keys a running or paused campaign may change: what its remaining messages say
    /// and who hears of it. Who gets it was decided when it started; the sender, the
    /// unsubscribe link and a shared `to:` are in messages already delivered (replies,
    /// bounces, DMARC alignment and unsubscribe links rest on them).
    public static let keysChangeableWhileSending: Set<String> = ["subject", "html", "text", "reply_to", "notify"]

    /// Replaces a campaign's stored definition with `definition` (found by its name),
    /// checked as at `create`. A draft or scheduled campaign (it keeps its schedule) may
    /// change anything but its name; a running or paused one only
    /// `keysChangeableWhileSending` — the change reaches the messages not yet sent, from
    /// the next `salvo send` or `salvo run` on; a finished or cancelled one nothing.
    @discardableResult
    public func updateCampaign(_ definition: CampaignDefinition, sourcePath: String) throws -> CampaignUpdate {
        let (stored, _) = try campaign(named: definition.name)
        let state = try campaignState(named: definition.name)
        let changed = Self.changedKeys(from: stored, to: definition)
        try CampaignUpdate.allowed(changed, campaign: definition.name, state: state)
        try check(definition, sourcePath: sourcePath)
        let json = try Self.json(definition)
        try writeNow { db in
            guard let listID = try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [definition.list]) else {
                throw StoreError.listNotFound(definition.list)
            }
            // The state is read again inside the write: a campaign started in between
            // must not take a change of its audience.
            let now = try String.fetchOne(db, sql: "SELECT state FROM campaigns WHERE name = ?", arguments: [definition.name])
            guard now == state else { throw CampaignUpdateError.changedMeanwhile(definition.name) }
            try db.execute(sql: """
                UPDATE campaigns SET list_id = ?, segment = ?, definition = ?, source_path = ? WHERE name = ?
                """, arguments: [listID, definition.segment, json, sourcePath, definition.name])
        }
        return CampaignUpdate(changed: changed, state: state)
    }

    /// The campaign file's keys on which `old` and `new` differ.
    static func changedKeys(from old: CampaignDefinition, to new: CampaignDefinition) -> [String] {
        var keys: [String] = []
        func note<T: Equatable>(_ key: String, _ path: KeyPath<CampaignDefinition, T>) {
            if old[keyPath: path] != new[keyPath: path] { keys.append(key) }
        }
        note("list", \.list)
        note("segment", \.segment)
        note("from", \.from)
        note("reply_to", \.replyTo)
        note("subject", \.subject)
        note("html", \.html)
        note("text", \.text)
        note("unsubscribe", \.unsubscribe)
        note("notify", \.notify)
        note("to", \.to)
        note("transactional", \.transactional)
        note("audience", \.audienceMode)
        note("exclude", \.exclude)
        note("track", \.track)
        return keys
    }

    /// A new draft named `newName` with `name`'s stored settings (any campaign, an
    /// archived one too): how a campaign is sent again.
    public func cloneCampaign(named name: String, as newName: String, now: Date = Date()) throws {
        let (definition, sourcePath) = try campaign(named: name)
        let _: Int64 = try createCampaign(try definition.cloned(as: newName), sourcePath: sourcePath, now: now)
    }

    /// Deletes a draft or scheduled campaign; archives a finished or cancelled one (its
    /// deliveries and report stay, `campaign list` leaves it out). A running or paused
    /// campaign is refused: cancel it first.
    @discardableResult
    public func deleteCampaign(named name: String, now: Date = Date()) throws -> CampaignRemoval {
        try writeNow { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, state, archived_at FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let id: Int64 = row["id"]
            let removal = try CampaignRemoval.of(campaign: name, state: row["state"], archived: (row["archived_at"] as Int64?) != nil)
            switch removal {
            case .deleted: try db.execute(sql: "DELETE FROM campaigns WHERE id = ?", arguments: [id])
            case .archived: try db.execute(sql: "UPDATE campaigns SET archived_at = ? WHERE id = ?", arguments: [Self.seconds(now), id])
            }
            return removal
        }
    }

    /// The stored settings, state, times and audience of a campaign.
    public func campaignDetails(named name: String) throws -> CampaignDetails {
        settleSendLog()
        let (definition, sourcePath) = try campaign(named: name)
        let row = try writer.read { db in
            try Row.fetchOne(db, sql: """
                SELECT id, state, state_reason, created_at, scheduled_at, started_at, finished_at, archived_at,
                       (SELECT COUNT(*) FROM deliveries d WHERE d.campaign_id = campaigns.id) AS deliveries
                FROM campaigns WHERE name = ?
                """, arguments: [name])
        }
        guard let row else { throw StoreError.campaignNotFound(name) }
        let started = (row["started_at"] as Int64?) != nil
        let audience = started ? row["deliveries"] as Int : try count(list: definition.list, segment: definition.segment)
        func time(_ column: String) -> Date? { (row[column] as Int64?).map(Self.date) }
        return CampaignDetails(definition: definition, sourcePath: sourcePath, state: row["state"], reason: row["state_reason"],
                               createdAt: Self.date(row["created_at"]), scheduledAt: time("scheduled_at"),
                               startedAt: time("started_at"), finishedAt: time("finished_at"), archivedAt: time("archived_at"),
                               audience: audience, audienceDecided: started)
    }
}

/// A lifecycle change a campaign's state does not allow, with the reason.
public struct CampaignUpdateError: Error, CustomStringConvertible, Equatable {
    private enum Kind: Equatable {
        case unsafeWhileSending(String, state: String, keys: [String])
        case alreadySent(String, state: String)
        case changedMeanwhile(String)
        case badName(String)
        case alreadyArchived(String)
        case deleteWhileSending(String, state: String)
    }

    private let kind: Kind

    public static func unsafeWhileSending(_ name: String, state: String, keys: [String]) -> Self {
        Self(kind: .unsafeWhileSending(name, state: state, keys: keys))
    }
    public static func alreadySent(_ name: String, state: String) -> Self { Self(kind: .alreadySent(name, state: state)) }
    public static func changedMeanwhile(_ name: String) -> Self { Self(kind: .changedMeanwhile(name)) }
    public static func badName(_ name: String) -> Self { Self(kind: .badName(name)) }
    public static func alreadyArchived(_ name: String) -> Self { Self(kind: .alreadyArchived(name)) }
    public static func deleteWhileSending(_ name: String, state: String) -> Self { Self(kind: .deleteWhileSending(name, state: state)) }

    /// Why a key cannot change once a campaign has started.
    static func reason(_ key: String) -> String {
        switch key {
        case "list", "segment", "audience", "exclude": "who gets it was decided when it started"
        case "from": "messages already delivered came from it (replies, bounces and DMARC alignment rest on it)"
        case "unsubscribe", "transactional": "the unsubscribe links of messages already delivered must keep working"
        case "to": "it changes whether recipients share one message halfway through"
        default: "it cannot change while sending"
        }
    }

    public var description: String {
        switch kind {
        case .unsafeWhileSending(let name, let state, let keys):
            let reasons = keys.map { "\($0): \(Self.reason($0))" }.joined(separator: "; ")
            return "campaign '\(name)' is \(state): only \(SalvoStore.keysChangeableWhileSending.sorted().joined(separator: ", ")) may change now, not \(reasons)"
        case .alreadySent(let name, let state):
            return "campaign '\(name)' is \(state): a sent campaign does not change; give the file a new name: and `salvo campaign create` it, or `salvo campaign clone \(name) NEW`"
        case .changedMeanwhile(let name):
            return "campaign '\(name)' changed state during the update; run the update again"
        case .badName(let name):
            return "'\(name)' is not a campaign name (one line of text)"
        case .alreadyArchived(let name):
            return "campaign '\(name)' is archived already (its report stays: salvo report \(name))"
        case .deleteWhileSending(let name, let state):
            return "campaign '\(name)' is \(state): cancel it first (salvo cancel \(name)); deleting a sent campaign archives it"
        }
    }
}
