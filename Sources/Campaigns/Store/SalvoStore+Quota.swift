import Delivery
import Foundation
import GRDB

/// Today's use of the daily quota, as `salvo status` shows it.
public struct QuotaUse: Sendable, Equatable {
    /// The UTC day, "2026-12-01".
    public var day: String
    /// Messages handed to servers that day.
    public var used: Int
    /// Nil when no quota is configured.
    public var perDay: Int?

    public var isSpent: Bool { perDay.map { used >= $0 } ?? false }

    public init(day: String, used: Int, perDay: Int?) {
        self.day = day
        self.used = used
        self.perDay = perDay
    }
}

extension SalvoStore {
    /// The store's clock, not `now`, says which day it is: the engine passes the wall
    /// clock, and tests move the store's clock to the next day.
    public func sendingHold(now: Date) async throws -> SendingHold? {
        guard let dailyQuota else { return nil }
        let today = clock()
        return try await writer.read { db in try dailyQuota.hold(now: today, in: db) }
    }

    /// What was handed to servers today (by the store's clock), against the quota. With
    /// no quota configured nothing keeps `quota_days`, so today's attempts that reached a
    /// server are counted instead (what the quota would have counted).
    public func quotaUse() throws -> QuotaUse {
        settleSendLog()
        let now = clock()
        let day = QuotaDay.day(of: now)
        return try writer.read { db in
            guard let dailyQuota else {
                let start = (now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
                let used = try Int.fetchOne(db, sql: """
                    SELECT COUNT(*) FROM attempts
                    WHERE attempted_at >= ? AND attempted_at < ? AND (mx_host IS NOT NULL OR outcome = 'unknown')
                    """, arguments: [Int64(start), Int64(start) + 86_400]) ?? 0
                return QuotaUse(day: day, used: used, perDay: nil)
            }
            return QuotaUse(day: day, used: try DailyQuota.used(day: day, in: db), perDay: dailyQuota.perDay)
        }
    }
}
