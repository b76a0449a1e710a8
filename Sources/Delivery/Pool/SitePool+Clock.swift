extension SitePool {
    /// The pool's time, on whatever clock it was given (a fake one in tests): instants are
    /// offsets from the moment the pool was made, so one non-generic actor runs on any
    /// `Clock` and its state machine never reads the time itself.
    struct Clock: Sendable {
        struct Instant: InstantProtocol {
            var offset: Duration

            func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
            func duration(to other: Instant) -> Duration { other.offset - offset }
            static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        }

        let now: @Sendable () -> Instant
        /// Returns at `deadline`, or throws when the task is cancelled first.
        let sleep: @Sendable (_ deadline: Instant) async throws -> Void

        init<C: _Concurrency.Clock>(_ clock: C) where C.Duration == Duration {
            let start = clock.now
            now = { Instant(offset: start.duration(to: clock.now)) }
            sleep = { deadline in try await clock.sleep(until: start.advanced(by: deadline.offset), tolerance: nil) }
        }
    }
}
