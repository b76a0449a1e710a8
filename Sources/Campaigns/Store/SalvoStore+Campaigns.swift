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
}

extension SalvoStore {
    /// Stores a checked campaign as a draft. Before anything is stored: the list must
    /// exist, the segment must use only the list's fields, and the templates must parse
    /// and use only the list's columns and the built-in fields; errors name the file and
    /// line.
    @discardableResult
    public func createCampaign(_ definition: CampaignDefinition, sourcePath: String, now: Date = Date()) throws -> Int64 {
        let columns = try fields(ofList: definition.list)
        if let segment = definition.segment {
            let expression = try SegmentParser.parse(segment)
            if let unknown = expression.fields.subtracting(columns).sorted().first {
                throw CampaignError.unknownField(unknown, in: "segment", campaign: sourcePath, known: columns.sorted())
            }
        }
        let template = try definition.messageTemplate(campaignFile: sourcePath)
        try template.checkFields(available: columns)
        if definition.to != nil { try template.checkShared() }
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
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

    public func campaigns() throws -> [CampaignSummary] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.name, l.name AS list, c.segment, c.state, c.created_at, c.scheduled_at,
                       (SELECT COUNT(*) FROM deliveries d WHERE d.campaign_id = c.id) AS deliveries
                FROM campaigns c JOIN lists l ON l.id = c.list_id ORDER BY c.created_at, c.name
                """).map { row in
                CampaignSummary(name: row["name"], list: row["list"], segment: row["segment"], state: row["state"],
                                createdAt: Date(timeIntervalSince1970: TimeInterval(row["created_at"] as Int64)),
                                scheduledAt: (row["scheduled_at"] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) },
                                deliveries: row["deliveries"])
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
}

public enum CampaignError: Error, CustomStringConvertible {
    case unknownField(String, in: String, campaign: String, known: [String])
    case missingUnsubscribeSecret(variable: String, campaign: String)

    public var description: String {
        switch self {
        case .unknownField(let field, let place, let campaign, let known):
            "\(campaign): the \(place) uses '\(field)', which is not a field of the list (available: \(known.joined(separator: ", ")))"
        case .missingUnsubscribeSecret(let variable, let campaign):
            "campaign '\(campaign)' uses {{unsubscribe_token}} but \(variable) is not set: export a long random secret in \(variable) (or name another variable with unsubscribe.secret_env)"
        }
    }
}
