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
    /// Fields every template may use besides the list's columns.
    public static let templateBuiltins: Set<String> = [
        "email", "domain", "campaign", "list", "unsubscribe_url", "unsubscribe_token",
    ]

    /// Stores a checked campaign definition as a draft. `templateFields` are the fields its
    /// templates reference; each must be a column of the list or a built-in, as must the
    /// segment's fields.
    @discardableResult
    public func createCampaign(_ definition: CampaignDefinition, sourcePath: String,
                               templateFields: Set<String>, now: Date = Date()) throws -> Int64 {
        let columns = try fields(ofList: definition.list)
        if let segment = definition.segment {
            let expression = try SegmentParser.parse(segment)
            if let unknown = expression.fields.subtracting(columns).sorted().first {
                throw CampaignError.unknownField(unknown, in: "segment", campaign: sourcePath, known: columns.sorted())
            }
        }
        let allowed = columns.union(SalvoStore.templateBuiltins)
        if let unknown = templateFields.subtracting(allowed).sorted().first {
            throw CampaignError.unknownField(unknown, in: "templates", campaign: sourcePath, known: allowed.sorted())
        }
        let json = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        return try writer.write { db in
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

    /// The stored definition of a campaign.
    public func campaign(named name: String) throws -> CampaignDefinition {
        try writer.read { db in
            guard let json = try String.fetchOne(db, sql: "SELECT definition FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            return try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8))
        }
    }
}

public enum CampaignError: Error, CustomStringConvertible {
    case unknownField(String, in: String, campaign: String, known: [String])

    public var description: String {
        switch self {
        case .unknownField(let field, let place, let campaign, let known):
            "\(campaign): the \(place) use '\(field)', which is neither a column of the list nor a built-in (available: \(known.joined(separator: ", ")))"
        }
    }
}
