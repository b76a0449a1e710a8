import Delivery
import Foundation
import GRDB

/// What starting a campaign did.
public struct CampaignStart: Sendable, Equatable {
    public var campaignID: Int64
    /// Deliveries added as `pending` by this call.
    public var queued: Int
    /// Deliveries added as `suppressed` (their address is on the suppression list).
    public var suppressed: Int
    /// Deliveries the campaign has in all, including those of earlier starts.
    public var total: Int
    /// The campaign's state afterwards: `running`, or `paused` if it was paused.
    public var state: String

    public init(campaignID: Int64, queued: Int, suppressed: Int, total: Int, state: String) {
        self.campaignID = campaignID
        self.queued = queued
        self.suppressed = suppressed
        self.total = total
        self.state = state
    }
}

extension SalvoStore {
    /// The id the engine's calls take.
    public func campaignID(named name: String) throws -> Int64 {
        try writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            return id
        }
    }

    /// The state column of a campaign: draft | scheduled | running | paused | finished | cancelled.
    public func campaignState(named name: String) throws -> String {
        try writer.read { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            return state
        }
    }

    /// Materialises one delivery per recipient of the campaign's list that its segment
    /// selects, in one `INSERT … SELECT`: `pending`, or `suppressed` when the address is
    /// suppressed globally or on the campaign's list (compared case-insensitively; the
    /// scope is kept in `suppressed_by`). Recipients sent one of the
    /// campaigns it `exclude`s are left out. It is the first step of every `salvo send`
    /// and `salvo run`: the first start decides the audience; later ones add nobody,
    /// unless the campaign says `audience: live`, when they add the recipients it does not
    /// have yet (imported since). The campaign becomes `running` (a paused one stays
    /// paused; a cancelled one is refused).
    @discardableResult
    public func startCampaign(named name: String, now: Date = Date()) throws -> CampaignStart {
        let now = Self.seconds(now)
        return try writeNow { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT c.id, c.segment, c.state, c.started_at, c.definition, l.name AS list
                FROM campaigns c JOIN lists l ON l.id = c.list_id WHERE c.name = ?
                """, arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let campaignID: Int64 = row["id"]
            let state: String = row["state"]
            if state == "cancelled" { throw CampaignStateError.cancelled(name) }
            let definition = try JSONDecoder().decode(CampaignDefinition.self, from: Data((row["definition"] as String).utf8))
            let decided = (row["started_at"] as Int64?) != nil && definition.audienceMode == .start
            let before = try Self.counts(campaign: campaignID, in: db)
            if !decided {
                try insertDeliveries(campaign: campaignID, named: name, list: row["list"], segment: row["segment"],
                                     excluding: definition.exclude ?? [], in: db)
            }
            let after = try Self.counts(campaign: campaignID, in: db)
            let newState = state == "paused" ? "paused" : "running"
            try db.execute(sql: """
                UPDATE campaigns SET state = ?, started_at = COALESCE(started_at, ?), finished_at = NULL WHERE id = ?
                """, arguments: [newState, now, campaignID])
            let suppressed = after[.suppressed] - before[.suppressed]
            return CampaignStart(campaignID: campaignID, queued: after.total - before.total - suppressed,
                                 suppressed: suppressed, total: after.total, state: newState)
        }
    }

    /// The deliveries a start adds: recipients the segment selects that the campaign does
    /// not have, less those sent one of the `excluding` campaigns (compared
    /// case-insensitively).
    private func insertDeliveries(campaign campaignID: Int64, named name: String, list: String, segment: String?, excluding: [String],
                                  in db: Database) throws {
        let segment = try segment.map { try SegmentParser.parse($0) }
        let selection = try ListSelection(list: list, expression: segment, in: db)
        var exclusion: SQL = ""
        if !excluding.isEmpty {
            let known = try String.fetchAll(db, sql: "SELECT name FROM campaigns WHERE name IN (SELECT value FROM json_each(?))",
                                            arguments: [try JSONColumns.encode(excluding)])
            if let missing = excluding.first(where: { !known.contains($0) }) {
                throw CampaignError.unknownExclude(missing, campaign: "campaign '\(name)'")
            }
            // Outcomes still in the send log count as sent too.
            try applySendLog(in: db)
            try db.execute(sql: """
                CREATE TEMP TABLE IF NOT EXISTS start_excluded (email TEXT NOT NULL PRIMARY KEY COLLATE NOCASE) WITHOUT ROWID;
                DELETE FROM start_excluded;
                """)
            try db.execute(sql: """
                INSERT OR IGNORE INTO start_excluded (email)
                SELECT d.email FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                WHERE c.name IN (SELECT value FROM json_each(?)) AND d.state = 'sent'
                """, arguments: [try JSONColumns.encode(excluding)])
            exclusion = "AND NOT EXISTS (SELECT 1 FROM start_excluded x WHERE x.email = r.email)"
        }
        // Inserting a million new index entries wants more than the default 2 MB of
        // page cache (a list of many domains inserts all over the domain index); it
        // is given back at the end, memory included.
        let cacheSize = try Int.fetchOne(db, sql: "PRAGMA cache_size") ?? -2000
        try db.execute(sql: "PRAGMA cache_size = -\(Self.startCacheKiB)")
        defer {
            try? db.execute(sql: "PRAGMA cache_size = \(cacheSize)")
            try? db.execute(sql: "PRAGMA shrink_memory")
        }
        // Global suppression, or on this recipient's list (the campaign's).
        let scope = Self.suppressionScopeSQL(email: "r.email", list: "r.list_id")
        try db.execute(literal: """
            INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state, suppressed_by)
            SELECT \(campaignID), r.id, r.email,
                   -- Import stores the domain lower-cased after the first "@" unless
                   -- the local part is quoted (and may hold "@" itself): keep the
                   -- Swift function for those few, C speed for the rest.
                   CASE WHEN r.email LIKE '"%' THEN salvo_domain(r.email)
                        ELSE substr(r.email, instr(r.email, '@') + 1) END,
                   CASE WHEN (\(sql: scope)) IS NULL THEN 'pending' ELSE 'suppressed' END,
                   \(sql: scope)
            FROM recipients r
            WHERE \(selection.condition) \(exclusion)
            ORDER BY r.id
            ON CONFLICT (campaign_id, recipient_id) DO NOTHING
            """)
        if !excluding.isEmpty { try db.execute(sql: "DELETE FROM start_excluded") }
    }

    /// The page cache a campaign start may use, in KiB. A million-recipient start took
    /// as long with 16 MiB as with 64 MiB, and peaked at 151 MB of memory instead of 200.
    static let startCacheKiB = 16384

    /// Pauses a running campaign: a sender watching it stops claiming within its poll
    /// interval and hands back what it holds.
    public func pauseCampaign(named name: String, reason: String? = nil) throws {
        try changeState(of: name, from: ["running"], to: "paused", reason: reason)
    }

    /// Lets a paused campaign be sent again (by the next `salvo send` or `salvo run`).
    public func resumeCampaign(named name: String) throws {
        try changeState(of: name, from: ["paused"], to: "running", reason: nil)
    }

    /// Cancels a campaign: every delivery not yet on a connection (`pending`, `deferred`,
    /// `claimed`) becomes `cancelled`; a sender's `markSending` then refuses the claimed
    /// ones, so nothing more is sent. Returns how many deliveries were cancelled.
    @discardableResult
    public func cancelCampaign(named name: String, now: Date = Date()) throws -> Int {
        let now = Self.seconds(now)
        return try writeNow { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, state FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let state: String = row["state"]
            if state == "finished" || state == "cancelled" {
                throw CampaignStateError.wrongState(name, state: state, action: "cancel")
            }
            let id: Int64 = row["id"]
            // A delivery already on the wire must show as `sending`, not be cancelled.
            try applySendLog(in: db)
            try db.execute(sql: """
                UPDATE deliveries SET state = 'cancelled', claimed_by = NULL, claimed_at = NULL
                WHERE campaign_id = ? AND state IN ('pending', 'deferred', 'claimed')
                """, arguments: [id])
            let cancelled = db.changesCount
            try db.execute(sql: "UPDATE campaigns SET state = 'cancelled', finished_at = ? WHERE id = ?", arguments: [now, id])
            return cancelled
        }
    }

    /// Deliveries per state, for `salvo status`.
    public func deliveryCounts(campaign name: String) throws -> DeliveryCounts {
        settleSendLog()
        return try writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            return try Self.counts(campaign: id, in: db)
        }
    }

    /// Whether every delivery of the campaign is final (sent, bounced, failed, unknown,
    /// suppressed, invalid or cancelled).
    public func isComplete(campaign name: String) throws -> Bool {
        try deliveryCounts(campaign: name).isComplete
    }

    /// The campaigns `salvo run` works on at `now`: the running ones (their due retries)
    /// and the scheduled ones whose time has come (to be started), in the order they were
    /// started or scheduled.
    public func campaignsToRun(now: Date) throws -> [String] {
        try writer.read { db in
            try String.fetchAll(db, sql: """
                SELECT name FROM campaigns
                WHERE state = 'running' OR (state = 'scheduled' AND scheduled_at <= ?)
                ORDER BY COALESCE(started_at, scheduled_at), id
                """, arguments: [Self.seconds(now)])
        }
    }

    private func changeState(of name: String, from: Set<String>, to newState: String, reason: String?) throws {
        try writeNow { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            guard from.contains(state) else {
                throw CampaignStateError.wrongState(name, state: state, action: newState == "paused" ? "pause" : "resume")
            }
            try db.execute(sql: "UPDATE campaigns SET state = ?, state_reason = ? WHERE name = ?",
                           arguments: [newState, reason, name])
        }
    }
}

/// A campaign asked to do what its state does not allow.
public enum CampaignStateError: Error, CustomStringConvertible, Equatable {
    case cancelled(String)
    case wrongState(String, state: String, action: String)

    public var description: String {
        switch self {
        case .cancelled(let name): "campaign '\(name)' was cancelled; create a new campaign to send it again"
        case .wrongState(let name, let state, let action): "cannot \(action) campaign '\(name)': it is \(state)"
        }
    }
}
