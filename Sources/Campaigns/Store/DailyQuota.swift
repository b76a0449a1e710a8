import Delivery
import Foundation
import GRDB

/// `quota: { per_day: N }`: at most N messages handed to servers per UTC day, for
/// everything this database sends (a provider's or a relay's daily limit, or a warm-up
/// plan for a new sending domain).
///
/// The store enforces it, inside the transactions it already runs, so it holds for every
/// process that sends from the database: the outcome transaction counts what reached a
/// server in `quota_days` (one row per day), and a claim takes at most what is left once
/// the deliveries other claims still hold are set aside. What reached a server: an
/// outcome with a server's reply (`mx_host`), or one left in doubt after DATA (`unknown`).
/// A DNS bounce or a refused connection uses nothing.
public struct DailyQuota: Sendable, Equatable {
    public var perDay: Int

    public init(perDay: Int) {
        self.perDay = perDay
    }

    /// The share of the day's quota at which the first notice goes to the sender.
    static let warningShare = 0.8

    /// The day's use at which each notice goes to the sender, once a day each: the day's
    /// count crossing a line queues its notice. No 80% line when it would be the quota
    /// itself (a quota of 4 says so once, at 4). Every store queues its notices by these.
    public var noticeLines: [(kind: Notice.Kind, line: Int)] {
        let warning = Int((Double(perDay) * Self.warningShare).rounded(.up))
        return (warning < perDay ? [(Notice.Kind.quota80, warning)] : []) + [(.quota100, perDay)]
    }

    /// The `notices` key of a quota notice: one of each kind per UTC day.
    public static func noticeKey(_ kind: Notice.Kind, day: String) -> String { "\(kind.rawValue):\(day)" }

    /// Messages handed to servers on `day`.
    static func used(day: String, in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT used FROM quota_days WHERE day = ?", arguments: [day]) ?? 0
    }

    /// Deliveries some claim holds (any campaign, any sender): each may reach a server
    /// before its outcome is counted. Read through the partial `deliveries_by_owner`
    /// index, which holds only those rows.
    static func inFlight(in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT COUNT(*) FROM deliveries WHERE claimed_by IS NOT NULL AND state IN ('claimed', 'sending')
            """) ?? 0
    }

    /// How many of `limit` deliveries a claim at `now` may take.
    func allowance(_ limit: Int, now: Date, in db: Database) throws -> Int {
        let left = perDay - (try Self.used(day: QuotaDay.day(of: now), in: db)) - (try Self.inFlight(in: db))
        return max(0, min(limit, left))
    }

    /// Nil while claims may take something; else why not, and until when.
    func hold(now: Date, in db: Database) throws -> SendingHold? {
        let committed = try Self.used(day: QuotaDay.day(of: now), in: db) + (try Self.inFlight(in: db))
        guard committed >= perDay else { return nil }
        return .dailyQuotaReached(perDay: perDay, now: now)
    }

    /// Counts the recorded outcomes of `deliveryIDs` that reached a server against the day
    /// of `now`, in the recording transaction; queues the 80% and 100% notices (once a
    /// day each) to the sender of the campaign whose message crossed the line.
    func count(_ deliveryIDs: [Int64], now: Date, in db: Database) throws {
        guard let first = deliveryIDs.first else { return }
        let day = QuotaDay.day(of: now)
        try db.execute(sql: """
            INSERT INTO quota_days (day, used) VALUES (?, ?)
            ON CONFLICT (day) DO UPDATE SET used = used + excluded.used
            """, arguments: [day, deliveryIDs.count])
        let after = try Self.used(day: day, in: db)
        let before = after - deliveryIDs.count
        let kinds = noticeLines.filter { before < $0.line && after >= $0.line }.map(\.kind)
        guard !kinds.isEmpty else { return }
        let campaign = try Int64.fetchOne(db, sql: "SELECT campaign_id FROM deliveries WHERE id = ?", arguments: [first])
        let detail = QuotaNoticeFacts(day: day, used: after, perDay: perDay)
        for kind in kinds {
            try SalvoStore.queueNotice(key: Self.noticeKey(kind, day: day), kind: kind, campaign: campaign,
                                       detail: detail, now: now, in: db)
        }
    }
}

/// What a quota notice says, fixed when its line was crossed.
public struct QuotaNoticeFacts: Codable, Sendable, Equatable {
    public var day: String
    public var used: Int
    public var perDay: Int

    public init(day: String, used: Int, perDay: Int) {
        self.day = day
        self.used = used
        self.perDay = perDay
    }
}

extension DeliveryOutcome {
    /// Whether this attempt handed a message to a server (the quota counts it): a server
    /// replied, or the session broke after DATA.
    var reachedServer: Bool { mxHost != nil || state == .unknown }
}
