import Foundation

/// The day a daily sending quota counts (`quota.per_day`): a UTC day, the same for every
/// store and every host, so two senders on two continents spend one day's quota.
public enum QuotaDay {
    /// The quota's key for `date`: its UTC day, "2026-12-01".
    public static func day(of date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// 00:00 UTC after `date`, when the quota starts again.
    public static func nextDay(after date: Date) -> Date {
        let seconds = date.timeIntervalSince1970
        return Date(timeIntervalSince1970: ((seconds / 86_400).rounded(.down) + 1) * 86_400)
    }
}

extension SendingHold {
    /// The hold a spent daily quota of `perDay` puts on sending at `now`: until the next
    /// UTC day.
    public static func dailyQuotaReached(perDay: Int, now: Date) -> SendingHold {
        SendingHold(reason: "daily quota of \(perDay) reached; resumes tomorrow (UTC)", until: QuotaDay.nextDay(after: now))
    }
}
