import Foundation

/// An instant of a `FakeClock`: an offset from its start. Pure state machines that take
/// an `InstantProtocol` (throttles, back-off, token buckets) are tested with it directly.
public struct FakeInstant: InstantProtocol, CustomStringConvertible {
    public var offset: Duration

    public init(offset: Duration) { self.offset = offset }

    public static let start = FakeInstant(offset: .zero)

    public func advanced(by duration: Duration) -> FakeInstant { FakeInstant(offset: offset + duration) }
    public func duration(to other: FakeInstant) -> Duration { other.offset - offset }
    public static func < (lhs: FakeInstant, rhs: FakeInstant) -> Bool { lhs.offset < rhs.offset }

    public static func seconds(_ seconds: Double) -> FakeInstant { FakeInstant(offset: .seconds(seconds)) }
    public static func milliseconds(_ milliseconds: Int64) -> FakeInstant { FakeInstant(offset: .milliseconds(milliseconds)) }

    public var description: String { "t+\(offset)" }
}

/// The tests' one clock whose time moves only when the test says so: a `Clock` for code
/// that sleeps (sleepers wake when `advance` passes their deadline, earliest deadline
/// first, or throw when their task is cancelled), and a wall clock (`date`) for code that
/// takes a `now: () -> Date`.
public final class FakeClock: Clock, @unchecked Sendable {
    public typealias Instant = FakeInstant
    public typealias Duration = Swift.Duration

    private struct Sleeper {
        var id: Int
        var deadline: FakeInstant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let lock = NSLock()
    private let startDate: Date
    private var current = FakeInstant.start
    private var sleepers: [Sleeper] = []
    private var nextID = 0

    /// `date` starts at `startDate`.
    public init(startDate: Date = Date(timeIntervalSince1970: 0)) {
        self.startDate = startDate
    }

    public var now: FakeInstant { lock.withLock { current } }
    public var minimumResolution: Duration { .zero }

    /// The wall-clock time: `startDate` plus the time advanced so far.
    public var date: Date {
        let offset = now.offset.components
        return startDate.addingTimeInterval(TimeInterval(offset.seconds) + TimeInterval(offset.attoseconds) / 1e18)
    }

    /// Sleepers waiting for a later time.
    public var sleeping: Int { lock.withLock { sleepers.count } }

    public func sleep(until deadline: FakeInstant, tolerance: Duration?) async throws {
        let id = lock.withLock {
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let wake: Result<Void, any Error>? = lock.withLock {
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= current { return .success(()) }
                    sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let wake { continuation.resume(with: wake) }
            }
        } onCancel: {
            let sleeper = lock.withLock {
                sleepers.firstIndex { $0.id == id }.map { sleepers.remove(at: $0) }
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the time on by `duration` and wakes every sleeper whose deadline it passed,
    /// in deadline order (those of one deadline in the order they went to sleep).
    public func advance(by duration: Duration) {
        let due = lock.withLock {
            current = current.advanced(by: duration)
            let due = sleepers.filter { $0.deadline <= current }.sorted { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
            sleepers.removeAll { $0.deadline <= current }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
