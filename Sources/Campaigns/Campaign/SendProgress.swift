import Delivery
import Foundation

/// What `salvo send` shows while it sends: recipients, not attempts, over the campaign's
/// whole audience, continuing from what earlier runs did (a resumed send starts at the
/// percent it stopped at). Pure: the command feeds it the engine's running summary and
/// the time, and prints what it returns.
public struct SendProgress: Sendable {
    /// Every delivery of the campaign.
    public let total: Int
    /// Final when this run began (sent, bounced, failed, unknown, suppressed, …).
    public let finalAtStart: Int
    /// Per outcome state when this run began.
    public let atStart: DeliveryCounts
    public let startedAt: Date
    /// This run's outcomes so far.
    public private(set) var run = Outcomes()

    /// Outcomes of this run, per state.
    public struct Outcomes: Sendable, Equatable {
        public var sent = 0, deferred = 0, bounced = 0, failed = 0, unknown = 0
        public init(sent: Int = 0, deferred: Int = 0, bounced: Int = 0, failed: Int = 0, unknown: Int = 0) {
            (self.sent, self.deferred, self.bounced, self.failed, self.unknown) = (sent, deferred, bounced, failed, unknown)
        }
    }

    public init(counts: DeliveryCounts, startedAt: Date) {
        total = counts.total
        finalAtStart = counts.final
        atStart = counts
        self.startedAt = startedAt
    }

    public mutating func update(_ summary: DeliveryEngine.Summary) {
        update(Outcomes(sent: summary.sent, deferred: summary.deferred, bounced: summary.bounced,
                        failed: summary.failed, unknown: summary.unknown))
    }

    public mutating func update(_ outcomes: Outcomes) { run = outcomes }

    /// Recipients final now. Each final outcome is one recipient's last, so the run's
    /// final outcomes add to those final at the start.
    public var done: Int { min(total, finalAtStart + run.sent + run.bounced + run.failed + run.unknown) }
    public var sent: Int { atStart[.sent] + run.sent }
    public var bounced: Int { atStart[.bounced] + run.bounced }
    public var failed: Int { atStart[.failed] + run.failed }
    public var unknown: Int { atStart[.unknown] + run.unknown }
    /// Recipients deferred by this run (one pass attempts each at most once; a retry of
    /// a recipient deferred before replaces its earlier deferral), never more than those
    /// not final.
    public var deferred: Int { min(run.deferred, total - done) }
    public var fraction: Double { total == 0 ? 1 : Double(done) / Double(total) }

    /// Recipients made final per second by this run.
    public func rate(at now: Date) -> Double {
        let seconds = now.timeIntervalSince(startedAt)
        guard seconds > 0 else { return 0 }
        return Double(done - finalAtStart) / seconds
    }

    /// Time left for the recipients still to be tried in this pass (those deferred wait
    /// for their retry and are not counted); nil until a rate is known.
    public func remaining(at now: Date) -> TimeInterval? {
        let rate = rate(at: now)
        guard rate > 0 else { return nil }
        return Double(max(0, total - done - deferred)) / rate
    }

    /// One line for a terminal, `width` columns at most:
    /// `[#########.........]  45% 4,500/10,000  sent 4,400 deferred 50 bounced 80 failed 0 unknown 0  312/s  ETA 0:17`.
    public func bar(at now: Date, width: Int = 100) -> String {
        let percent = Int((fraction * 100).rounded(.down))
        let figures = "\(String(percent).leftPadded(3))% \(done)/\(total)  " + counts + "  " + speed(at: now)
        let barWidth = max(10, min(30, width - figures.count - 4))
        let filled = Int((fraction * Double(barWidth)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "] " + figures
    }

    /// One line for a log, stamped with the time (RFC 3339, UTC); with `campaign`, its
    /// name follows the time (`salvo run` logs several campaigns one after another).
    public func line(at now: Date, campaign: String? = nil) -> String {
        let percent = Int((fraction * 100).rounded(.down))
        let name = campaign.map { "campaign '\($0)' " } ?? ""
        return "\(now.formatted(.iso8601)) \(name)\(done)/\(total) (\(percent)%) " + counts + ", " + speed(at: now)
    }

    private var counts: String {
        "sent \(sent) deferred \(deferred) bounced \(bounced) failed \(failed) unknown \(unknown)"
    }

    private func speed(at now: Date) -> String {
        let eta = remaining(at: now).map { "ETA " + Self.duration($0) } ?? "ETA --"
        return "\(Int(rate(at: now).rounded()))/s  \(eta)"
    }

    /// `0:07`, `12:30`, `3:04:05`.
    static func duration(_ seconds: TimeInterval) -> String {
        let total = Int(seconds.rounded(.up))
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
