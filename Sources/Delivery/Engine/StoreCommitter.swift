import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Every write the engine makes while it sends, group-committed: outcomes, and the
/// `sending` marks that must be on disk before a message's DATA goes out.
///
/// A connection's next message is marked in the same commit that records the last one's
/// outcome, so after a crash at most the message on the wire of each connection is in
/// doubt (`unknown`). One commit per message would cap the engine at the store's commit
/// rate; instead, marks that arrive while a commit runs wait for the next one, which
/// takes them all, with every outcome recorded meanwhile.
///
/// The commits run one after another on a thread of the committer's own, calling the
/// store synchronously: a mark costs the wake-up of that thread and the resumption of
/// the waiting worker, where tasks, an actor and the store's own queue cost several
/// thread hops more, on the critical path of every message.
///
/// Recording an outcome is a lock and an append (the hot path of every message); only
/// marking and flushing wait for a commit. `close()` ends the thread.
///
/// A commit that fails (a database busy in another process) is tried again after each of
/// `retryDelays`, waited out through `pause`. If it still fails, the marks of that commit
/// fail (their content is withheld, nothing is sent) and its outcomes stay waiting for the
/// next commit: an outcome known from a server is never dropped. Those still unrecorded
/// when the committer closes are `unrecorded`, for the engine to count and name.
final class StoreCommitter: @unchecked Sendable {
    private let store: any DeliveryStore
    private let owner: String
    private let batchSize: Int
    private let retryDelays: [Duration]
    private let pause: @Sendable (Duration) -> Void
    private let now: @Sendable () -> Date
    private let unrecordedBox = NIOLockedValueBox<[DeliveryOutcome]>([])
    private let waiting = NIOLockedValueBox(Waiting())
    /// Guards `requests` and `closing`; its value is 1 while there are requests (or the
    /// committer is closing), 0 otherwise, so the thread sleeps on `lock(whenValue: 1)`.
    private let queue = ConditionLock(value: 0)
    private var requests: [Request] = []
    private var closing = false

    private struct Waiting {
        var outcomes: [DeliveryOutcome] = []
        var hardBounces: Set<Int64> = []
    }

    private struct Request {
        var ids: [Int64]
        /// Called on the commit thread with the ids marked, or the store's error.
        var done: @Sendable (Result<Set<Int64>, Error>) -> Void
    }

    /// - Parameters:
    ///   - pause: blocks the commit thread for a retry's delay (a test passes one that
    ///     advances a fake clock and returns at once).
    ///   - now: the time written with each commit.
    init(store: any DeliveryStore, owner: String, batchSize: Int, retryDelays: [Duration],
         pause: @escaping @Sendable (Duration) -> Void = { Thread.sleep(forTimeInterval: $0.timeInterval) },
         now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.owner = owner
        self.batchSize = max(1, batchSize)
        self.retryDelays = retryDelays
        self.pause = pause
        self.now = now
        let thread = Thread { [self] in commitLoop() }
        thread.name = "salvo-store-commit"
        thread.start()
    }

    /// Adds an outcome to the next commit; true when `batchSize` are waiting and the
    /// caller should `flush()`. `suppress` adds the address to the suppression list.
    func record(_ outcome: DeliveryOutcome, suppress: Bool) -> Bool {
        waiting.withLockedValue { waiting in
            waiting.outcomes.append(outcome)
            if suppress { waiting.hardBounces.insert(outcome.deliveryID) }
            return waiting.outcomes.count >= batchSize
        }
    }

    /// Marks `ids` `sending`, committing every outcome recorded before the call in the
    /// same or an earlier transaction. Returns the ids marked; one missing was taken back
    /// by the store (the campaign was cancelled) and must not be sent.
    func mark(_ ids: [Int64]) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return try await commit(ids)
    }

    /// `mark(_:)` for a connection's event loop: the future completes there, without a
    /// task to resume, so held content goes out as soon as the commit is done
    /// (`SMTPConnection.send(_:release:)`).
    func mark(_ ids: [Int64], on eventLoop: any EventLoop) -> EventLoopFuture<Set<Int64>> {
        let promise = eventLoop.makePromise(of: Set<Int64>.self)
        enqueue(Request(ids: ids) { promise.completeWith($0) })
        return promise.futureResult
    }

    /// Returns once every outcome recorded before the call is committed.
    func flush() async throws {
        _ = try await commit([])
    }

    /// Ends the commit thread once the requests made so far are committed; a mark or
    /// flush after this fails.
    func close() {
        queue.lock()
        closing = true
        queue.unlock(withValue: 1)
    }

    /// Outcomes recorded but never committed, after every retry: known from a server,
    /// lost to the store. Complete once a `flush()` after the last `record` has returned
    /// (or failed).
    var unrecorded: [DeliveryOutcome] {
        let waiting = waiting.withLockedValue { $0.outcomes }
        return unrecordedBox.withLockedValue { $0 } + waiting
    }

    private func commit(_ ids: [Int64]) async throws -> Set<Int64> {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(Request(ids: ids) { continuation.resume(with: $0) })
        }
    }

    private func enqueue(_ request: Request) {
        queue.lock()
        guard !closing else {
            queue.unlock(withValue: 1)
            return request.done(.failure(StoreCommitterClosed()))
        }
        requests.append(request)
        queue.unlock(withValue: 1)
    }

    private func commitLoop() {
        while true {
            queue.lock(whenValue: 1)
            let batch = requests
            requests.removeAll()
            let done = closing && batch.isEmpty
            queue.unlock(withValue: closing ? 1 : 0)
            if done { return }
            // Taken after the requests: an outcome recorded before a request was made is
            // in this commit or an earlier one.
            let taken = waiting.withLockedValue { waiting in
                defer { waiting = Waiting() }
                return waiting
            }
            let ids = batch.flatMap(\.ids)
            switch commitWithRetries(taken, marking: ids) {
            case .success(let marked):
                for request in batch { request.done(.success(marked.intersection(request.ids))) }
            case .failure(let error):
                // The outcomes wait for the next commit, ahead of any recorded since.
                waiting.withLockedValue { waiting in
                    waiting.outcomes = taken.outcomes + waiting.outcomes
                    waiting.hardBounces.formUnion(taken.hardBounces)
                }
                for request in batch { request.done(.failure(error)) }
            }
        }
    }

    private func commitWithRetries(_ taken: Waiting, marking ids: [Int64]) -> Result<Set<Int64>, any Error> {
        var attempt = 0
        while true {
            do {
                return .success(try store.recordAndMarkSending(taken.outcomes, hardBounces: taken.hardBounces, marking: ids,
                                                               owner: owner, now: now()))
            } catch {
                guard attempt < retryDelays.count else { return .failure(error) }
                pause(retryDelays[attempt])
                attempt += 1
            }
        }
    }
}

/// A mark or flush after the engine's run ended.
struct StoreCommitterClosed: Error, CustomStringConvertible {
    var description: String { "the store committer is closed: the send has ended" }
}
