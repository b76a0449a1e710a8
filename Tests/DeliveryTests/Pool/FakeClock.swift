import Foundation

/// A clock whose time moves only when the test says so: sleepers wake when `advance`
/// passes their deadline, or throw when their task is cancelled.
final class FakeClock: Clock, @unchecked Sendable {
    typealias Instant = FakeInstant

    private struct Sleeper {
        var id: Int
        var deadline: FakeInstant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let lock = NSLock()
    private var current = FakeInstant.start
    private var sleepers: [Sleeper] = []
    private var nextID = 0

    var now: FakeInstant { lock.withLock { current } }
    var minimumResolution: Duration { .zero }

    /// Sleepers waiting for a later time.
    var sleeping: Int { lock.withLock { sleepers.count } }

    func sleep(until deadline: FakeInstant, tolerance: Duration?) async throws {
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

    func advance(by duration: Duration) {
        let due = lock.withLock {
            current = current.advanced(by: duration)
            let due = sleepers.filter { $0.deadline <= current }
            sleepers.removeAll { $0.deadline <= current }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
