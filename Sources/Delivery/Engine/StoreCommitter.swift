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
/// The commits run one after another. For a store that commits synchronously
/// (`SynchronousCommits`, SQLite) they run on a thread of the committer's own: a mark
/// costs the wake-up of that thread and the resumption of the waiting worker, where
/// tasks, an actor and the store's own queue cost several thread hops more, on the
/// critical path of every message. For any other store (a network database, whose commit
/// is a round trip anyway) the same loop runs as a task calling the store's async method.
///
/// Recording an outcome is a lock and an append (the hot path of every message); only
/// marking and flushing wait for a commit. `close()` ends the thread.
///
/// A commit that fails (a database busy in another process) is tried again after each of
/// `retryDelays`, waited out through `pause` (or slept, without one). If it still fails, the marks of that commit
/// fail (their content is withheld, nothing is sent) and its outcomes stay waiting for the
/// next commit: an outcome known from a server is never dropped. Those still unrecorded
/// when the committer closes are `unrecorded`, for the engine to count and name.
final class StoreCommitter: @unchecked Sendable {
    private let owner: String
    private let batchSize: Int
    private let retryDelays: [Duration]
    private let pause: (@Sendable (Duration) -> Void)?
    private let now: @Sendable () -> Date
    private let unrecordedBox = NIOLockedValueBox<[DeliveryOutcome]>([])
    private let waiting = NIOLockedValueBox(Waiting())
    /// Guards `requests` and `closing`; its value is 1 while there are requests (or the
    /// committer is closing), 0 otherwise, so the thread sleeps on `lock(whenValue: 1)`.
    private let queue = ConditionLock(value: 0)
    private var requests: [Request] = []
    private var closing = false
    /// Wakes the commit task when requests arrive (nil on the commit thread, which sleeps
    /// on `queue`).
    private let wakeup: AsyncStream<Void>.Continuation?

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
    ///   - pause: waits out a retry's delay (a test passes one that advances a fake clock
    ///     and returns at once); nil sleeps for it, the thread or the task.
    ///   - now: the time written with each commit: the engine's clock, so a test's fake
    ///     clock reaches the store's rows as it reaches the engine.
    init(store: any DeliveryStore, owner: String, batchSize: Int, retryDelays: [Duration],
         pause: (@Sendable (Duration) -> Void)? = nil,
         now: @escaping @Sendable () -> Date) {
        self.owner = owner
        self.batchSize = max(1, batchSize)
        self.retryDelays = retryDelays
        self.pause = pause
        self.now = now
        if let synchronous = store as? any SynchronousCommits {
            wakeup = nil
            let thread = Thread { [self] in commitLoop(synchronous) }
            thread.name = "salvo-store-commit"
            thread.start()
        } else {
            let (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            self.wakeup = wakeup
            Task { [self] in await commitLoop(store, wakeups: wakeups) }
        }
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
        wakeup?.yield()
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
        wakeup?.yield()
    }

    /// What the commit loop does next.
    private enum Next {
        /// Commit these outcomes and the marks of these requests.
        case commit([Request], Waiting)
        /// Nothing asked yet (the task's wake-ups may run ahead of the requests).
        case idle
        case end
    }

    /// Takes the requests made so far and the outcomes waiting; `sleeping` blocks the
    /// thread until there are some.
    private func next(sleeping: Bool) -> Next {
        if sleeping { queue.lock(whenValue: 1) } else { queue.lock() }
        let batch = requests
        requests.removeAll()
        let done = closing && batch.isEmpty
        queue.unlock(withValue: closing ? 1 : 0)
        if done { return .end }
        if batch.isEmpty { return .idle }
        // Taken after the requests: an outcome recorded before a request was made is
        // in this commit or an earlier one.
        let taken = waiting.withLockedValue { waiting in
            defer { waiting = Waiting() }
            return waiting
        }
        return .commit(batch, taken)
    }

    private func finish(_ batch: [Request], _ taken: Waiting, _ result: Result<Set<Int64>, any Error>) {
        switch result {
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

    private func commitLoop(_ store: any SynchronousCommits) {
        while true {
            let step = next(sleeping: true)
            if case .end = step { return }
            guard case .commit(let batch, let taken) = step else { continue }
            let ids = batch.flatMap(\.ids)
            var attempt = 0
            var result: Result<Set<Int64>, any Error>
            while true {
                result = Result { try store.recordAndMarkSendingSynchronously(taken.outcomes, hardBounces: taken.hardBounces,
                                                                               marking: ids, owner: owner, now: now()) }
                guard case .failure = result, attempt < retryDelays.count else { break }
                if let pause { pause(retryDelays[attempt]) } else { Thread.sleep(forTimeInterval: retryDelays[attempt].timeInterval) }
                attempt += 1
            }
            finish(batch, taken, result)
        }
    }

    /// The same loop as a task, for a store without `SynchronousCommits`.
    private func commitLoop(_ store: any DeliveryStore, wakeups: AsyncStream<Void>) async {
        for await _ in wakeups {
            while true {
                let step = next(sleeping: false)
                if case .end = step { return }
                guard case .commit(let batch, let taken) = step else { break }
                let ids = batch.flatMap(\.ids)
                var attempt = 0
                var result: Result<Set<Int64>, any Error>
                while true {
                    do {
                        result = .success(try await store.recordAndMarkSending(taken.outcomes, hardBounces: taken.hardBounces,
                                                                               marking: ids, owner: owner, now: now()))
                    } catch {
                        result = .failure(error)
                    }
                    guard case .failure = result, attempt < retryDelays.count else { break }
                    if let pause { pause(retryDelays[attempt]) } else { try? await Task.sleep(for: retryDelays[attempt]) }
                    attempt += 1
                }
                finish(batch, taken, result)
            }
        }
    }
}

/// A mark or flush after the engine's run ended.
struct StoreCommitterClosed: Error, CustomStringConvertible {
    var description: String { "the store committer is closed: the send has ended" }
}
