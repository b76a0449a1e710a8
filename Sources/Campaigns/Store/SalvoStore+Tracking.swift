import Foundation
import GRDB

/// One delivery as `salvo serve` needs it to answer a tracking or view token: whose
/// message it was, and when it was handed to a server.
public struct TrackedDelivery: Sendable, Equatable {
    public var id: Int64
    public var campaign: String
    public var email: String
    /// The list's columns for the recipient, as the message was rendered with them.
    public var attributes: [String: String]
    /// When a server accepted it (nil: not sent, or not yet recorded).
    public var sentAt: Date?

    public init(id: Int64, campaign: String, email: String, attributes: [String: String], sentAt: Date?) {
        self.id = id
        self.campaign = campaign
        self.email = email
        self.attributes = attributes
        self.sentAt = sentAt
    }
}

/// Opens or clicks of a campaign: recipients with a human event, and recipients whose
/// events all look like machines (scanners, image proxies), counted apart.
public struct TrackingCounts: Sendable, Equatable {
    public var human = 0
    public var machineOnly = 0
    public var unique: Int { human + machineOnly }

    public init(human: Int = 0, machineOnly: Int = 0) {
        self.human = human
        self.machineOnly = machineOnly
    }
}

/// One tracked link of a campaign for `salvo report CAMPAIGN --links`.
public struct LinkClicks: Sendable, Equatable {
    public var position: Int
    public var target: String
    /// Clicks, not recipients: every request counts.
    public var human: Int
    public var machine: Int

    public init(position: Int, target: String, human: Int, machine: Int) {
        self.position = position
        self.target = target
        self.human = human
        self.machine = machine
    }
}

/// The first human open and click of one delivery, for the report.
public struct FirstEvents: Sendable, Equatable {
    public var openedAt: Date?
    public var clickedAt: Date?
}

/// Opens and clicks that reach `salvo serve`, one row per request in `tracking_events`,
/// each marked human or machine when it is recorded (`TrackingEventClassifier`). Like
/// unsubscribes, each is one short write on GRDB's writer queue, so a burst of them
/// interleaves with a running send's commits.
extension SalvoStore {
    static func registerTrackingMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-tracking: opens and clicks") { db in
            try db.execute(sql: """
                -- One row per open (the pixel fetched) or click (a tracked link followed).
                -- `machine` is 1 when the request looks like a scanner or an image proxy
                -- (`machine_reason` says why): counted apart from people.
                CREATE TABLE tracking_events (
                    id INTEGER PRIMARY KEY,
                    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,                    -- open | click
                    link_position INTEGER,                 -- a click's link, 0 for the first tracked link
                    link_target TEXT,                      -- where it led
                    at INTEGER NOT NULL,
                    machine INTEGER NOT NULL DEFAULT 0,
                    machine_reason TEXT
                );
                CREATE INDEX tracking_events_by_delivery ON tracking_events(delivery_id, kind, machine, at);
                """)
        }
    }

    /// The delivery `id` names, or nil when the store has none.
    public func trackedDelivery(id: Int64) async throws -> TrackedDelivery? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT d.id, d.campaign_id, c.name AS campaign, d.email, r.attributes,
                       COALESCE((SELECT max(at) FROM send_log WHERE delivery_id = d.id AND state = 'sent'),
                                CASE WHEN d.state = 'sent' THEN d.last_attempt_at END) AS sent_at
                FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id JOIN recipients r ON r.id = d.recipient_id
                WHERE d.id = ?
                """, arguments: [id])
            else { return nil }
            let columns = try Self.columns(ofCampaign: row["campaign_id"], in: db)
            return TrackedDelivery(id: row["id"], campaign: row["campaign"], email: row["email"],
                                   attributes: (row["attributes"] as String?).map { AttributeArray.dictionary($0, columns: columns) } ?? [:],
                                   sentAt: (row["sent_at"] as Int64?).map(Self.date))
        }
    }

    /// Records one open or click of `delivery` at `now`.
    public func recordTrackingEvent(delivery: Int64, kind: TrackingEventKind, link: (position: Int, target: String)? = nil,
                                    verdict: TrackingVerdict, now: Date) async throws {
        try await writer.write { db in
            try db.execute(sql: """
                INSERT INTO tracking_events (delivery_id, kind, link_position, link_target, at, machine, machine_reason)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [delivery, kind.rawValue, link?.position, link?.target, Self.seconds(now),
                                 verdict.isMachine, verdict.reason])
        }
    }

    /// Unique opens and clicks of `campaign`, human and machine apart.
    public func trackingCounts(campaign: String) throws -> [TrackingEventKind: TrackingCounts] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT kind, sum(human) AS human, sum(1 - human) AS machine_only FROM (
                    SELECT e.kind, e.delivery_id, max(e.machine = 0) AS human
                    FROM tracking_events e JOIN deliveries d ON d.id = e.delivery_id JOIN campaigns c ON c.id = d.campaign_id
                    WHERE c.name = ? GROUP BY e.kind, e.delivery_id)
                GROUP BY kind
                """, arguments: [campaign]).reduce(into: [:]) { counts, row in
                if let kind = TrackingEventKind(rawValue: row["kind"]) {
                    counts[kind] = TrackingCounts(human: row["human"], machineOnly: row["machine_only"])
                }
            }
        }
    }

    /// Each tracked link of `campaign` that was followed, by position, with its clicks.
    public func linkClicks(campaign: String) throws -> [LinkClicks] {
        try writer.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM campaigns WHERE name = ?", arguments: [campaign]) == true else {
                throw StoreError.campaignNotFound(campaign)
            }
            return try Row.fetchAll(db, sql: """
                SELECT e.link_position AS position, min(e.link_target) AS target,
                       sum(e.machine = 0) AS human, sum(e.machine) AS machine
                FROM tracking_events e JOIN deliveries d ON d.id = e.delivery_id JOIN campaigns c ON c.id = d.campaign_id
                WHERE c.name = ? AND e.kind = 'click'
                GROUP BY e.link_position ORDER BY e.link_position
                """, arguments: [campaign]).map { row in
                LinkClicks(position: row["position"], target: row["target"], human: row["human"], machine: row["machine"])
            }
        }
    }

    /// The first human open and click of each delivery of `campaign` that has one, by
    /// delivery id.
    func firstEvents(campaign: Int64, in db: Database) throws -> [Int64: FirstEvents] {
        try Row.fetchAll(db, sql: """
            SELECT e.delivery_id AS id, min(CASE WHEN e.kind = 'open' THEN e.at END) AS opened,
                   min(CASE WHEN e.kind = 'click' THEN e.at END) AS clicked
            FROM tracking_events e JOIN deliveries d ON d.id = e.delivery_id
            WHERE d.campaign_id = ? AND e.machine = 0 GROUP BY e.delivery_id
            """, arguments: [campaign]).reduce(into: [:]) { events, row in
            events[row["id"]] = FirstEvents(openedAt: (row["opened"] as Int64?).map(Self.date), clickedAt: (row["clicked"] as Int64?).map(Self.date))
        }
    }
}
