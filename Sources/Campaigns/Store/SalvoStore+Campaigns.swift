import Foundation
import GRDB

/// A campaign as `salvo campaign list` shows it.
public struct CampaignSummary: Sendable, Equatable {
    public var name: String
    public var list: String
    public var segment: String?
    public var state: String
    public var createdAt: Date
    public var scheduledAt: Date?
    public var deliveries: Int
    /// Deleted after it was sent: kept for its report, left out of `campaign list`.
    public var archived = false

    public init(name: String, list: String, segment: String?, state: String, createdAt: Date, scheduledAt: Date?,
                deliveries: Int, archived: Bool = false) {
        self.name = name
        self.list = list
        self.segment = segment
        self.state = state
        self.createdAt = createdAt
        self.scheduledAt = scheduledAt
        self.deliveries = deliveries
        self.archived = archived
    }
}

extension SalvoStore {
    /// Stores a checked campaign as a draft. Before anything is stored: the list must
    /// exist, the segment must use only the list's fields, the templates must parse and
    /// use only the list's columns and the built-in fields, and the campaigns it excludes
    /// must exist; errors name the file and line.
    @discardableResult
    public func createCampaign(_ definition: CampaignDefinition, sourcePath: String, now: Date = Date()) throws -> Int64 {
        _ = try check(definition, sourcePath: sourcePath)
        let json = try Self.json(definition)
        return try writeNow { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM campaigns WHERE name = ?", arguments: [definition.name]) == true {
                throw StoreError.campaignExists(definition.name)
            }
            guard let listID = try Int64.fetchOne(db, sql: "SELECT id FROM lists WHERE name = ?", arguments: [definition.list]) else {
                throw StoreError.listNotFound(definition.list)
            }
            try db.execute(sql: """
                INSERT INTO campaigns (name, list_id, segment, definition, source_path, state, created_at)
                VALUES (?, ?, ?, ?, ?, 'draft', ?)
                """, arguments: [definition.name, listID, definition.segment, json, sourcePath, Int64(now.timeIntervalSince1970)])
            return db.lastInsertedRowID
        }
    }

    /// What `create` checks, and what `preview`, `send` and `run` check again before they
    /// render anything (a template edited since may name a field the list lacks): the
    /// segment's fields, the templates' syntax and fields, a shared message's fields, the
    /// excluded campaigns. Returns the parsed templates.
    @discardableResult
    public func check(_ definition: CampaignDefinition, sourcePath: String) throws -> MessageTemplate {
        let listFields = try fields(ofList: definition.list)
        var existing: Set<String> = []
        if let excluded = definition.exclude {
            existing = try writer.read { db in
                Set(try String.fetchAll(db, sql: "SELECT name FROM campaigns WHERE name IN (SELECT value FROM json_each(?))",
                                        arguments: [try JSONColumns.encode(excluded)]))
            }
        }
        return try definition.checked(sourcePath: sourcePath, listFields: listFields, existingCampaigns: existing)
    }

    /// The stored campaign, checked again as at `create`, and what renders its messages:
    /// what `preview`, `send` and `run` start from. `warnings` says when the campaign file
    /// has changed since it was stored (the stored campaign is what is sent).
    public func checkedCampaign(named name: String, configuration: SalvoConfiguration,
                                environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CheckedCampaign {
        let (definition, sourcePath) = try campaign(named: name)
        let template = try check(definition, sourcePath: sourcePath)
        return try CheckedCampaign(definition: definition, sourcePath: sourcePath, template: template,
                                   configuration: configuration, environment: environment)
    }

    /// The campaigns, oldest first; archived ones (deleted after they were sent) only
    /// with `includeArchived`.
    public func campaigns(includeArchived: Bool = false) throws -> [CampaignSummary] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.name, l.name AS list, c.segment, c.state, c.created_at, c.scheduled_at, c.archived_at,
                       (SELECT COUNT(*) FROM deliveries d WHERE d.campaign_id = c.id) AS deliveries
                FROM campaigns c JOIN lists l ON l.id = c.list_id
                WHERE ? OR c.archived_at IS NULL
                ORDER BY c.created_at, c.name
                """, arguments: [includeArchived]).map { row in
                CampaignSummary(name: row["name"], list: row["list"], segment: row["segment"], state: row["state"],
                                createdAt: Self.date(row["created_at"]),
                                scheduledAt: (row["scheduled_at"] as Int64?).map(Self.date),
                                deliveries: row["deliveries"],
                                archived: (row["archived_at"] as Int64?) != nil)
            }
        }
    }

    /// The stored definition of a campaign and the file it was created from.
    public func campaign(named name: String) throws -> (definition: CampaignDefinition, sourcePath: String) {
        try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT definition, source_path FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let json: String = row["definition"]
            return (try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8)), row["source_path"])
        }
    }

    /// A definition as both stores keep it: JSON with its keys sorted.
    public static func json(_ definition: CampaignDefinition) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(definition), as: UTF8.self)
    }
}

/// A stored campaign that passed the checks of `create` again, ready to render.
public struct CheckedCampaign: Sendable {
    public var definition: CampaignDefinition
    public var sourcePath: String
    public var composer: MessageComposer
    /// For stderr: the campaign file differs from what is stored.
    public var warnings: [String]

    /// The campaign `definition` stored from `sourcePath`, its templates checked
    /// (`CampaignDefinition.checked`), with what renders it; warns when the file there now
    /// says something else (the stored campaign is what is sent), whichever store held it.
    public init(definition: CampaignDefinition, sourcePath: String, template: MessageTemplate,
                configuration: SalvoConfiguration, environment: [String: String]) throws {
        self.definition = definition
        self.sourcePath = sourcePath
        composer = try definition.composer(template: template, configuration: configuration, environment: environment)
        warnings = []
        if FileManager.default.fileExists(atPath: sourcePath) {
            do {
                let current = try CampaignDefinition.load(path: sourcePath)
                if current.name == definition.name, current != definition {
                    warnings.append("\(sourcePath) has changed since campaign '\(definition.name)' was stored; the stored campaign is used (`salvo campaign update \(sourcePath)` applies the file)")
                }
            } catch {
                warnings.append("\(sourcePath) no longer loads (\(error)); the stored campaign '\(definition.name)' is used")
            }
        }
    }
}

extension CampaignDefinition {
    /// What `create` checks, given the fields of the campaign's list (its columns and the
    /// built-in ones) and which of the campaigns it excludes the store has: the segment's
    /// fields, the templates' syntax and fields, a shared message's fields, the excluded
    /// campaigns. Returns the parsed templates. Errors name the campaign file.
    public func checked(sourcePath: String, listFields: Set<String>, existingCampaigns: Set<String>) throws -> MessageTemplate {
        if let segment {
            let expression = try SegmentParser.parse(segment)
            if let unknown = expression.fields.subtracting(listFields).sorted().first {
                throw CampaignError.unknownField(unknown, in: "segment", campaign: sourcePath, known: listFields.sorted())
            }
        }
        let template = try messageTemplate(campaignFile: sourcePath)
        try template.checkFields(available: listFields)
        if to != nil { try template.checkShared() }
        if let missing = exclude?.first(where: { !existingCampaigns.contains($0) }) {
            throw CampaignError.unknownExclude(missing, campaign: sourcePath)
        }
        return template
    }
}

public enum CampaignError: Error, CustomStringConvertible {
    case unknownField(String, in: String, campaign: String, known: [String])
    case missingUnsubscribeSecret(variable: String, campaign: String)
    case unknownExclude(String, campaign: String)
    /// The campaign links to `salvo serve` (tracking, `{{view_url}}`) and `missing` says
    /// what those links need that is not there.
    case webLinksUnavailable(campaign: String, use: String, missing: String)

    public var description: String {
        switch self {
        case .unknownField(let field, let place, let campaign, let known):
            "\(campaign): the \(place) uses '\(field)', which is not a field of the list (available: \(known.joined(separator: ", ")))"
        case .missingUnsubscribeSecret(let variable, let campaign):
            "campaign '\(campaign)' uses {{unsubscribe_token}} but \(variable) is not set: export a random secret of at least 32 bytes in \(variable), or name a file that holds one in unsubscribe.secret_file (salvo init writes one)"
        case .unknownExclude(let name, let campaign):
            "\(campaign): exclude names '\(name)', which is not a campaign (see `salvo campaign list --all`)"
        case .webLinksUnavailable(let campaign, let use, let missing):
            "campaign '\(campaign)' \(use), but \(missing)"
        }
    }
}
