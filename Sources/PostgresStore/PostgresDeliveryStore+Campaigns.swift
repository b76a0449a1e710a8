import Campaigns
import Delivery
import Foundation
import PostgresNIO

/// What `salvo send` asks of a store besides the engine's calls (`CampaignSendingStore`),
/// on PostgreSQL: the stored campaign checked again, and its start, which adds the
/// deliveries its segment selects in one statement.
extension PostgresDeliveryStore: CampaignSendingStore {
    public var place: String { "PostgreSQL at \(url.place)" }

    public func campaignID(named name: String) async throws -> Int64 {
        try await described("campaignID") {
            try await client.withConnection { connection in try await Self.campaignID(named: name, on: connection, logger: logger) }
        }
    }

    static func campaignID(named name: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        guard let id = try await connection.query("SELECT id FROM campaigns WHERE name = \(name)", logger: logger)
            .decode(Int64.self).collected().first else { throw StoreError.campaignNotFound(name) }
        return id
    }

    public func checkedCampaign(named name: String, configuration: SalvoConfiguration,
                                environment: [String: String]) async throws -> CheckedCampaign {
        try await described("checkedCampaign") {
            try await client.withConnection { connection in
                guard let (json, sourcePath) = try await connection.query(
                    "SELECT definition, source_path FROM campaigns WHERE name = \(name)", logger: logger)
                    .decode((String, String).self).collected().first else { throw StoreError.campaignNotFound(name) }
                let definition = try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8))
                let (_, template) = try await Self.checked(definition, sourcePath: sourcePath, on: connection, logger: logger)
                return try CheckedCampaign(definition: definition, sourcePath: sourcePath, template: template,
                                           configuration: configuration, environment: environment)
            }
        }
    }

    public func startCampaign(named name: String, now: Date) async throws -> CampaignStart {
        let now = Self.seconds(now)
        return try await transaction("startCampaign") { connection in
            // Locked: two hosts starting one campaign at once add its deliveries once.
            let rows = try await connection.query("""
                SELECT id, list_id, segment, state, started_at, definition FROM campaigns WHERE name = \(name) FOR UPDATE
                """, logger: logger).decode((Int64, Int64, String?, String, Int64?, String).self).collected()
            guard let (campaign, list, segment, state, startedAt, json) = rows.first else {
                throw StoreError.campaignNotFound(name)
            }
            if state == "cancelled" { throw CampaignStateError.cancelled(name) }
            let definition = try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8))
            let before = try await Self.counts(campaign: campaign, on: connection, logger: logger)
            if !(startedAt != nil && definition.audienceMode == .start) {
                try await Self.insertDeliveries(campaign: campaign, named: name, list: list, segment: segment,
                                                excluding: definition.exclude ?? [], on: connection, logger: logger)
            }
            let after = try await Self.counts(campaign: campaign, on: connection, logger: logger)
            let newState = state == "paused" ? "paused" : "running"
            try await connection.query("""
                UPDATE campaigns SET state = \(newState), started_at = COALESCE(started_at, \(now)), finished_at = NULL
                WHERE id = \(campaign)
                """, logger: logger)
            let suppressed = after[.suppressed] - before[.suppressed]
            return CampaignStart(campaignID: campaign, queued: after.total - before.total - suppressed,
                                 suppressed: suppressed, total: after.total, state: newState)
        }
    }

    public func campaignsToRun(now: Date) async throws -> [String] {
        try await described("campaignsToRun") {
            try await client.query("""
                SELECT name FROM campaigns
                WHERE state = 'running' OR (state = 'scheduled' AND scheduled_at <= \(Self.seconds(now)))
                ORDER BY COALESCE(started_at, scheduled_at), id
                """, logger: logger).decode(String.self).collected()
        }
    }

    public func pauseCampaign(named name: String, reason: String?) async throws {
        try await changeState(of: name, from: "running", to: "paused", reason: reason, action: "pause")
    }

    public func resumeCampaign(named name: String) async throws {
        try await changeState(of: name, from: "paused", to: "running", reason: nil, action: "resume")
    }

    public func cancelCampaign(named name: String, now: Date) async throws -> Int {
        let now = Self.seconds(now)
        return try await transaction("cancelCampaign") { connection in
            let rows = try await connection.query("SELECT id, state FROM campaigns WHERE name = \(name) FOR UPDATE", logger: logger)
                .decode((Int64, String).self).collected()
            guard let (campaign, state) = rows.first else { throw StoreError.campaignNotFound(name) }
            if state == "finished" || state == "cancelled" {
                throw CampaignStateError.wrongState(name, state: state, action: "cancel")
            }
            // A delivery already on a connection stays `sending`: its outcome is coming.
            let cancelled = try await connection.query("""
                UPDATE deliveries SET state = 'cancelled', claimed_by = NULL, claimed_at = NULL
                WHERE campaign_id = \(campaign) AND state IN ('pending', 'deferred', 'claimed')
                RETURNING id
                """, logger: logger).decode(Int64.self).collected().count
            try await connection.query("""
                UPDATE campaigns SET state = 'cancelled', finished_at = \(now) WHERE id = \(campaign)
                """, logger: logger)
            return cancelled
        }
    }

    /// One state to another, or the error that names the campaign and the state it is in.
    private func changeState(of name: String, from: String, to newState: String, reason: String?, action: String) async throws {
        try await transaction(action) { connection in
            let rows = try await connection.query("SELECT state FROM campaigns WHERE name = \(name) FOR UPDATE", logger: logger)
                .decode(String.self).collected()
            guard let state = rows.first else { throw StoreError.campaignNotFound(name) }
            guard state == from else { throw CampaignStateError.wrongState(name, state: state, action: action) }
            try await connection.query("""
                UPDATE campaigns SET state = \(newState), state_reason = \(reason) WHERE name = \(name)
                """, logger: logger)
        }
    }

    public func sendPendingNotices(configuration: SalvoConfiguration, environment: [String: String]) async -> NoticeSender.Report {
        await NoticeSender(store: self, configuration: configuration, environment: environment).sendPending()
    }

    /// The deliveries a start adds: recipients the segment selects that the campaign does
    /// not have, less those sent one of the `excluding` campaigns (compared ignoring case);
    /// an address on the global list, or on the campaign's list's, is added `suppressed`.
    static func insertDeliveries(campaign: Int64, named name: String, list: Int64, segment: String?, excluding: [String],
                                 on connection: PostgresConnection, logger: Logger) async throws {
        var sql = PostgresSegmentSQL()
        let selection = try sql.selection(list: list, segment: segment)
        let campaignParameter = sql.bind(campaign)
        var exclusion = ""
        if !excluding.isEmpty {
            let known = Set(try await connection.query("SELECT name FROM campaigns WHERE name = ANY(\(excluding))", logger: logger)
                .decode(String.self).collected())
            if let missing = excluding.first(where: { !known.contains($0) }) {
                throw CampaignError.unknownExclude(missing, campaign: "campaign '\(name)'")
            }
            let names = excluding.map { sql.bind($0) }.joined(separator: ", ")
            exclusion = """
                AND NOT EXISTS (SELECT 1 FROM deliveries x JOIN campaigns xc ON xc.id = x.campaign_id
                                WHERE xc.name IN (\(names)) AND x.state = 'sent' AND lower(x.email) = lower(r.email))
                """
        }
        let scope = """
            CASE WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(r.email)) THEN 'global'
                 WHEN EXISTS (SELECT 1 FROM list_suppressions ls WHERE ls.list_id = r.list_id AND ls.email = lower(r.email)) THEN 'list'
            END
            """
        try await connection.query(PostgresQuery(unsafeSQL: """
            INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state, suppressed_by)
            SELECT \(campaignParameter), r.id, r.email, r.domain,
                   CASE WHEN (\(scope)) IS NULL THEN 'pending' ELSE 'suppressed' END, \(scope)
            FROM recipients r
            WHERE \(selection) \(exclusion)
            ORDER BY r.id
            ON CONFLICT (campaign_id, recipient_id) DO NOTHING
            """, binds: sql.bindings), logger: logger)
    }

    /// How many recipients of the list with id `list` the segment selects, all of them
    /// without one (`salvo segment count`, a campaign's audience before it starts, and the
    /// tests that hold the two stores' segments to one meaning).
    public func segmentCount(list: Int64, segment: String?) async throws -> Int {
        try await described("segmentCount") {
            try await client.withConnection { connection in
                try await Self.segmentCount(list: list, segment: segment, on: connection, logger: logger)
            }
        }
    }

    static func segmentCount(list: Int64, segment: String?, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        var sql = PostgresSegmentSQL()
        let selection = try sql.selection(list: list, segment: segment)
        return Int(try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM recipients r WHERE \(selection)",
                                                            binds: sql.bindings), logger: logger)
            .decode(Int64.self).collected().first ?? 0)
    }

    static func counts(campaign: Int64, on connection: PostgresConnection, logger: Logger) async throws -> DeliveryCounts {
        var counts = DeliveryCounts()
        for (state, count) in try await connection.query("""
            SELECT state, count(*) FROM deliveries WHERE campaign_id = \(campaign) GROUP BY state
            """, logger: logger).decode((String, Int64).self).collected() {
            if let state = DeliveryState(rawValue: state) { counts.byState[state] = Int(count) }
        }
        return counts
    }
}
