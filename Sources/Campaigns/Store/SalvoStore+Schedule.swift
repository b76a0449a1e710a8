import Foundation
import GRDB

extension SalvoStore {
    /// Schedules a draft (or reschedules a scheduled) campaign: `salvo run` starts it at
    /// the first run at or after `time`. A time before `now` is refused: it is usually a
    /// typo (a wrong year or time zone) and would start the campaign at the next run
    /// without a word; `salvo schedule --at now` says that intent.
    public func scheduleCampaign(named name: String, at time: Date, now: Date = Date()) throws {
        let seconds = Self.seconds(time)
        try ScheduleError.check(campaign: name, time: time, now: now)
        try writer.write { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            try ScheduleError.schedulable(campaign: name, state: state)
            try db.execute(sql: "UPDATE campaigns SET state = 'scheduled', scheduled_at = ? WHERE name = ?",
                           arguments: [seconds, name])
        }
    }

    /// The times `salvo status` shows beside the counts.
    public func campaignTiming(named name: String) throws -> CampaignTiming {
        settleSendLog()
        return try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT scheduled_at, started_at, finished_at,
                       (SELECT MIN(next_attempt_at) FROM deliveries d
                        WHERE d.campaign_id = campaigns.id AND d.state = 'deferred') AS next_retry
                FROM campaigns WHERE name = ?
                """, arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            func time(_ column: String) -> Date? { (row[column] as Int64?).map(Self.date) }
            return CampaignTiming(scheduledAt: time("scheduled_at"), startedAt: time("started_at"),
                                  finishedAt: time("finished_at"), nextRetryAt: time("next_retry"))
        }
    }
}

/// When a campaign was or will be started, finished, and retried next.
public struct CampaignTiming: Sendable, Equatable {
    public var scheduledAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// The earliest retry time of its deferred recipients (nil: none deferred).
    public var nextRetryAt: Date?

    public init(scheduledAt: Date? = nil, startedAt: Date? = nil, finishedAt: Date? = nil, nextRetryAt: Date? = nil) {
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.nextRetryAt = nextRetryAt
    }
}

/// `salvo schedule` given a time already past.
public struct ScheduleError: Error, CustomStringConvertible, Equatable {
    public let campaign: String
    public let time: Date
    public let now: Date

    public var description: String {
        "\(time.formatted(.iso8601)) is in the past (it is \(now.formatted(.iso8601)) now): give a time to come, or --at now to start campaign '\(campaign)' at the next salvo run"
    }
}
