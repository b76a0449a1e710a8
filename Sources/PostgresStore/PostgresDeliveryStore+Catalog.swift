import Campaigns
import Foundation
import MailMessage
import PostgresNIO

/// `salvo campaign create|update|show|clone|delete|list`, `salvo schedule` and `salvo
/// preview`'s recipient on PostgreSQL, with the rules the SQLite store keeps
/// (`CampaignUpdate.allowed`, `CampaignRemoval.of`, `ScheduleError`): a campaign is checked
/// against its list's fields and the campaigns it excludes before anything is stored, and
/// every change re-reads the campaign's state under a row lock, so a host starting it at
/// the same moment never sees half a change.
extension PostgresDeliveryStore: CampaignCatalogStore {
    public func createCampaign(_ definition: CampaignDefinition, sourcePath: String, now: Date) async throws {
        try await transaction("createCampaign") { connection in
            try await Self.insertCampaign(definition, sourcePath: sourcePath, now: Self.seconds(now),
                                          on: connection, logger: logger)
        }
    }

    public func updateCampaign(_ definition: CampaignDefinition, sourcePath: String) async throws -> CampaignUpdate {
        try await transaction("updateCampaign") { connection in
            guard let (json, state) = try await connection.query(
                "SELECT definition, state FROM campaigns WHERE name = \(definition.name) FOR UPDATE", logger: logger)
                .decode((String, String).self).collected().first else { throw StoreError.campaignNotFound(definition.name) }
            let stored = try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8))
            let changed = stored.changedKeys(to: definition)
            try CampaignUpdate.allowed(changed, campaign: definition.name, state: state)
            let (list, _) = try await Self.checked(definition, sourcePath: sourcePath, on: connection, logger: logger)
            try await connection.query("""
                UPDATE campaigns SET list_id = \(list), segment = \(definition.segment), definition = \(try SalvoStore.json(definition)),
                    source_path = \(sourcePath)
                WHERE name = \(definition.name)
                """, logger: logger)
            return CampaignUpdate(changed: changed, state: state)
        }
    }

    public func campaignDetails(named name: String) async throws -> CampaignDetails {
        try await described("campaignDetails") {
            try await client.withConnection { connection in
                guard let row = try await connection.query("""
                    SELECT definition, source_path, state, state_reason, created_at, scheduled_at, started_at, finished_at,
                           archived_at, (SELECT count(*) FROM deliveries d WHERE d.campaign_id = campaigns.id)
                    FROM campaigns WHERE name = \(name)
                    """, logger: logger).decode(
                        (String, String, String, String?, Int64, Int64?, Int64?, Int64?, Int64?, Int64).self).collected().first
                else { throw StoreError.campaignNotFound(name) }
                let (json, sourcePath, state, reason, created, scheduled, started, finished, archived, deliveries) = row
                let definition = try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8))
                let audience: Int
                if started != nil {
                    audience = Int(deliveries)
                } else {
                    let sql = try await Self.selection(list: definition.list, segment: definition.segment,
                                                       on: connection, logger: logger).sql
                    audience = try await connection.query(PostgresQuery(
                        unsafeSQL: "SELECT count(*) FROM recipients r WHERE \(sql.condition)", binds: sql.bindings), logger: logger)
                        .decode(Int64.self).collected().first.map(Int.init) ?? 0
                }
                return CampaignDetails(definition: definition, sourcePath: sourcePath, state: state, reason: reason,
                                       createdAt: Self.date(created), scheduledAt: scheduled.map(Self.date),
                                       startedAt: started.map(Self.date), finishedAt: finished.map(Self.date),
                                       archivedAt: archived.map(Self.date), audience: audience, audienceDecided: started != nil)
            }
        }
    }

    public func cloneCampaign(named name: String, as newName: String, now: Date) async throws {
        try await transaction("cloneCampaign") { connection in
            guard let (json, sourcePath) = try await connection.query(
                "SELECT definition, source_path FROM campaigns WHERE name = \(name)", logger: logger)
                .decode((String, String).self).collected().first else { throw StoreError.campaignNotFound(name) }
            let definition = try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8)).cloned(as: newName)
            try await Self.insertCampaign(definition, sourcePath: sourcePath, now: Self.seconds(now), on: connection, logger: logger)
        }
    }

    public func deleteCampaign(named name: String, now: Date) async throws -> CampaignRemoval {
        try await transaction("deleteCampaign") { connection in
            guard let (id, state, archivedAt) = try await connection.query(
                "SELECT id, state, archived_at FROM campaigns WHERE name = \(name) FOR UPDATE", logger: logger)
                .decode((Int64, String, Int64?).self).collected().first else { throw StoreError.campaignNotFound(name) }
            let removal = try CampaignRemoval.of(campaign: name, state: state, archived: archivedAt != nil)
            switch removal {
            case .deleted: try await connection.query("DELETE FROM campaigns WHERE id = \(id)", logger: logger)
            case .archived:
                try await connection.query("UPDATE campaigns SET archived_at = \(Self.seconds(now)) WHERE id = \(id)", logger: logger)
            }
            return removal
        }
    }

    public func campaigns(includeArchived: Bool) async throws -> [CampaignSummary] {
        try await described("campaigns") {
            try await client.query("""
                SELECT c.name, l.name, c.segment, c.state, c.created_at, c.scheduled_at, c.archived_at,
                       (SELECT count(*) FROM deliveries d WHERE d.campaign_id = c.id)
                FROM campaigns c JOIN lists l ON l.id = c.list_id
                WHERE \(includeArchived) OR c.archived_at IS NULL
                ORDER BY c.created_at, c.name COLLATE "C"
                """, logger: logger).decode((String, String, String?, String, Int64, Int64?, Int64?, Int64).self).collected()
                .map { name, list, segment, state, created, scheduled, archived, deliveries in
                    CampaignSummary(name: name, list: list, segment: segment, state: state, createdAt: Self.date(created),
                                    scheduledAt: scheduled.map(Self.date), deliveries: Int(deliveries), archived: archived != nil)
                }
        }
    }

    public func scheduleCampaign(named name: String, at time: Date, now: Date) async throws {
        try ScheduleError.check(campaign: name, time: time, now: now)
        try await transaction("scheduleCampaign") { connection in
            guard let state = try await connection.query("SELECT state FROM campaigns WHERE name = \(name) FOR UPDATE", logger: logger)
                .decode(String.self).collected().first else { throw StoreError.campaignNotFound(name) }
            try ScheduleError.schedulable(campaign: name, state: state)
            try await connection.query("""
                UPDATE campaigns SET state = 'scheduled', scheduled_at = \(Self.seconds(time)) WHERE name = \(name)
                """, logger: logger)
        }
    }

    public func recipient(list: String, email: String?, segment: String?) async throws -> StoredRecipient? {
        try await described("recipient") {
            try await client.withConnection { connection in
                let selection = try await Self.selection(list: list, segment: email == nil ? segment : nil,
                                                         on: connection, logger: logger)
                var sql = selection.sql
                let query: String
                if let email {
                    let key = RecipientKey.of((try? EmailAddress(email).description) ?? email)
                    query = "SELECT r.id, r.email, r.attributes::text FROM recipients r WHERE \(sql.condition) AND r.address_key = \(sql.bind(key))"
                } else {
                    query = "SELECT r.id, r.email, r.attributes::text FROM recipients r WHERE \(sql.condition) ORDER BY r.id LIMIT 1"
                }
                guard let (id, address, json) = try await connection.query(PostgresQuery(unsafeSQL: query, binds: sql.bindings), logger: logger)
                    .decode((Int64, String, String).self).collected().first else { return nil }
                return StoredRecipient(id: id, email: address, attributes: Self.attributes(json))
            }
        }
    }

    /// Stores `definition` as a new draft, checked first.
    private static func insertCampaign(_ definition: CampaignDefinition, sourcePath: String, now: Int64,
                                       on connection: PostgresConnection, logger: Logger) async throws {
        let (list, _) = try await checked(definition, sourcePath: sourcePath, on: connection, logger: logger)
        // A name taken, here or by another host a moment ago, adds nothing.
        let inserted = try await connection.query("""
            INSERT INTO campaigns (name, list_id, segment, definition, source_path, state, created_at)
            VALUES (\(definition.name), \(list), \(definition.segment), \(try SalvoStore.json(definition)), \(sourcePath), 'draft', \(now))
            ON CONFLICT (name) DO NOTHING RETURNING id
            """, logger: logger).decode(Int64.self).collected()
        if inserted.isEmpty { throw StoreError.campaignExists(definition.name) }
    }

    /// `definition` checked as `salvo campaign create` checks it, against its list's fields
    /// and the campaigns it excludes; returns the list's id and the parsed templates.
    static func checked(_ definition: CampaignDefinition, sourcePath: String, on connection: PostgresConnection,
                        logger: Logger) async throws -> (list: Int64, template: MessageTemplate) {
        guard let (list, json) = try await connection.query(
            "SELECT id, columns::text FROM lists WHERE name = \(definition.list)", logger: logger)
            .decode((Int64, String).self).collected().first else { throw StoreError.listNotFound(definition.list) }
        let fields = Set(columns(json)).union(SalvoStore.segmentBuiltins)
        var existing: Set<String> = []
        if let excluded = definition.exclude, !excluded.isEmpty {
            existing = Set(try await connection.query("SELECT name FROM campaigns WHERE name = ANY(\(excluded))", logger: logger)
                .decode(String.self).collected())
        }
        let template = try definition.checked(sourcePath: sourcePath, listFields: fields, existingCampaigns: existing)
        return (list, template)
    }
}
