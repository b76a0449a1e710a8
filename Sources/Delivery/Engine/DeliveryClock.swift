import Foundation

/// The engine's time: monotonic instants for pacing, back-off and waits, and the dates the
/// store records, both from one source. The engine never reads the time itself, so a test
/// can run a whole pass on a fake clock.
public struct DeliveryClock: Clock, Sendable {
    public typealias Instant = ContinuousClock.Instant

    private let instant: @Sendable () -> Instant
    private let sleeper: @Sendable (Instant) async throws -> Void
    /// The wall-clock time, as the store records it (claims, attempts, retries).
    public let date: @Sendable () -> Date

    /// The machine's clocks.
    public static let system = DeliveryClock(instant: { ContinuousClock.now }, date: { Date() },
                                             sleep: { try await ContinuousClock().sleep(until: $0, tolerance: nil) })

    public init(instant: @escaping @Sendable () -> Instant, date: @escaping @Sendable () -> Date,
                sleep: @escaping @Sendable (Instant) async throws -> Void) {
        self.instant = instant
        self.date = date
        sleeper = sleep
    }

    /// Time from `clock` (a fake one in tests): instants and dates advance together from
    /// `startDate`, the date at the clock's present instant.
    public init<C: Clock>(_ clock: C, startDate: Date) where C.Duration == Duration {
        let origin = clock.now
        let base = ContinuousClock.now
        self.init(instant: { base + origin.duration(to: clock.now) },
                  date: { startDate.addingTimeInterval(origin.duration(to: clock.now).timeInterval) },
                  sleep: { deadline in try await clock.sleep(until: origin.advanced(by: base.duration(to: deadline)), tolerance: nil) })
    }

    public var now: Instant { instant() }
    public var minimumResolution: Duration { .nanoseconds(1) }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try await sleeper(deadline)
    }

    /// The date `interval` from now.
    func date(after interval: Duration) -> Date {
        date().addingTimeInterval(interval.timeInterval)
    }
}
