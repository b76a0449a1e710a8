import _ConnectionPoolModule
import Delivery
import Foundation
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The database going away while a send works on it: a restart, a failover, a network
/// cut. The engine's calls (claims, commits, marks, budgets, leases, heartbeats, control)
/// wait for the server instead of failing, so a sender that loses its database stops
/// claiming and marking (no message goes on the wire unmarked), keeps every outcome it
/// holds (its committer's), and goes on where it was once the server answers again.
///
/// How long: `Settings.outageWait`, counted from the first failed call of the outage, not
/// per call, so every waiting call gives up together; then the send ends as on any store
/// error, and the next send recovers what it held. The wait is said once on stderr, and
/// its end.
///
/// A call the server may have carried out before its reply was lost is made again with
/// `retry` true: the commit then counts as marked what it had itself marked `sending`, so
/// that message is sent rather than left in doubt; outcomes written already match no row
/// the second time. A claim whose reply was lost leaves its rows `claimed` by this sender,
/// handed back (`pending`) at its sign-off for the next send.
///
/// A call in flight when the server went away may never be answered: the pool can keep
/// it on a connection that is gone. Each attempt therefore has `settings.answerWithin` to
/// answer; one that does not is left behind and counts as the server gone.
extension PostgresDeliveryStore {
    /// Runs `body` as a task of its own and returns its result, or fails as the server
    /// gone once `settings.answerWithin` has passed without one (the task is cancelled
    /// and left to end, or not, on its own).
    func answered<T: Sendable>(_ operation: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let deadline = settings.answerWithin else { return try await body() }
        let place = url.place
        let race = AnswerRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.start(continuation, work: Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    race.finish(with: result)
                }, timer: Task {
                    guard (try? await Task.sleep(for: deadline)) != nil else { return }
                    race.finish(with: .failure(PostgresStoreError(
                        place: place, operation: operation,
                        detail: "no answer within \(OutageWatch.spoken(deadline))", serverGone: true)))
                })
            }
        } onCancel: {
            race.cancel()
        }
    }

    /// Runs `body` (one store call, errors already named), again while the server is gone,
    /// up to `settings.outageWait` from the start of the outage.
    func enduring<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (_ retry: Bool) async throws -> T) async throws -> T {
        var retry = false
        var pause = Duration.milliseconds(100)
        while true {
            do {
                let attempt = retry
                let value = try await answered(operation) { try await body(attempt) }
                if let ended = outage.withLock({ $0.ended(at: .now) }) {
                    logger.warning("PostgreSQL at \(url.place): back after \(OutageWatch.spoken(ended)); the send goes on")
                }
                return value
            } catch let error as PostgresStoreError where error.serverGone {
                if Task.isCancelled { throw error }
                guard let limit = settings.outageWait else { throw error }
                let (waited, first) = outage.withLock { $0.failed(at: .now) }
                guard waited < limit else {
                    throw PostgresStoreError(place: error.place, operation: error.operation,
                                             detail: "gone for longer than \(OutageWatch.spoken(limit)) (\(error.detail))", sqlState: error.sqlState)
                }
                if first {
                    logger.warning("PostgreSQL at \(url.place): \(error.operation): \(error.detail); waiting up to \(OutageWatch.spoken(limit)) for it to come back, sending nothing meanwhile")
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
                retry = true
            }
        }
    }
}

extension PostgresDeliveryStore {
    /// `transaction`, waited for through an outage: for a call that is the same made twice.
    func enduringTransaction<T: Sendable>(_ operation: String,
                                          _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await enduring(operation) { _ in try await self.transaction(operation, body) }
    }

    /// `described`, waited for through an outage: for a read, or a write that is the same
    /// made twice (the reputation guard's pause).
    func enduringRead<T: Sendable>(_ operation: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await enduring(operation) { _ in try await self.described(operation, body) }
    }
}

/// One attempt against its deadline: the first of the work's result and the timer's
/// failure resumes the caller; the other task is cancelled.
private final class AnswerRace<T: Sendable>: Sendable {
    private struct State {
        var waiter: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
        var result: Result<T, any Error>?
    }
    private let state = Mutex(State())

    func start(_ waiter: CheckedContinuation<T, any Error>, work: Task<Void, Never>, timer: Task<Void, Never>) {
        let early: Result<T, any Error>? = state.withLock { state in
            state.work = work
            state.timer = timer
            if let result = state.result { return result }
            state.waiter = waiter
            return nil
        }
        if let early {
            work.cancel()
            timer.cancel()
            waiter.resume(with: early)
        }
    }

    func finish(with result: Result<T, any Error>) {
        let (waiter, work, timer): (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Task<Void, Never>?) = state.withLock { state in
            guard state.result == nil else { return (nil, nil, nil) }
            state.result = result
            defer { state.waiter = nil }
            return (state.waiter, state.work, state.timer)
        }
        work?.cancel()
        timer?.cancel()
        waiter?.resume(with: result)
    }

    func cancel() {
        let work = state.withLock { $0.work }
        work?.cancel()
    }
}

/// When the current outage began, if one is under way: shared by every call of a store.
struct OutageWatch: Sendable {
    private var began: ContinuousClock.Instant?

    /// A call failed at `now`: how long the outage has lasted, and whether this is its first failure.
    mutating func failed(at now: ContinuousClock.Instant) -> (lasted: Duration, first: Bool) {
        guard let began else {
            self.began = now
            return (.zero, true)
        }
        return (began.duration(to: now), false)
    }

    /// "45 s", "5 min": how the warnings say a wait.
    static func spoken(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds < 120 ? "\(seconds) s" : "\(seconds / 60) min"
    }

    /// A call succeeded at `now`: how long the outage that it ends lasted, nil when none was under way.
    /// Whether an outage is under way: a call failed for it and none has been answered since.
    var isUnderway: Bool { began != nil }

    mutating func ended(at now: ContinuousClock.Instant) -> Duration? {
        guard let began else { return nil }
        self.began = nil
        return began.duration(to: now)
    }
}

extension PostgresStoreError {
    /// Whether `error` says the server cannot be reached or went away (it stops or starts,
    /// the connection broke, the pool cannot connect), as against an error of the call
    /// itself: the outage a send waits out (`enduring`).
    static func isServerGone(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            if let state = error.serverInfo?[.sqlState] {
                // Class 08, connection exception; 57P01–57P03, the server shutting down,
                // crashed, or not yet accepting sessions.
                return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
            }
            if [.connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection].contains(error.code) {
                return true
            }
            return error.underlying.map(isServerGone) ?? false
        }
        if let error = error as? ConnectionPoolError { return error == .connectionCreationCircuitBreakerTripped }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.contains(where: isServerGone)
        }
        return error is NIOConnectionError || error is IOError || error is ChannelError
    }
}

