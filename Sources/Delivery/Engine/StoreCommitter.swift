import Foundation
import NIOConcurrencyHelpers

/// Every write the engine makes while it sends, group-committed: outcomes, and the
/// `sending` marks that must be on disk before a message's DATA goes out.
///
/// A connection's next message is marked in the same transaction that records the last
/// one's outcome, so after a crash at most the message on the wire of each connection is
/// in doubt (`unknown`). One transaction per message would cap the engine at the store's
/// commit rate; instead, marks that arrive while a commit runs wait for the next one,
/// which takes them all, with every outcome recorded meanwhile.
///
/// Recording an outcome is a lock and an append (the hot path of every message); only
/// marking and flushing wait for a commit.
actor StoreCommitter {
    private let store: any DeliveryStore
    private let owner: String
    private let batchSize: Int
    private nonisolated let waiting = NIOLockedValueBox(Waiting())
    private var requests: [(ids: [Int64], continuation: CheckedContinuation<Set<Int64>, Error>)] = []
    private var committing = false

    private struct Waiting {
        var outcomes: [DeliveryOutcome] = []
        var hardBounces: Set<Int64> = []
    }

    init(store: any DeliveryStore, owner: String, batchSize: Int) {
        self.store = store
        self.owner = owner
        self.batchSize = max(1, batchSize)
    }

    /// Adds an outcome to the next commit; true when `batchSize` are waiting and the
    /// caller should `flush()`. `suppress` adds the address to the suppression list.
    nonisolated func record(_ outcome: DeliveryOutcome, suppress: Bool) -> Bool {
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

    /// Returns once every outcome recorded before the call is committed.
    func flush() async throws {
        _ = try await commit([])
    }

    private func commit(_ ids: [Int64]) async throws -> Set<Int64> {
        try await withCheckedThrowingContinuation { continuation in
            requests.append((ids, continuation))
            if !committing {
                committing = true
                Task { await self.commitLoop() }
            }
        }
    }

    private func commitLoop() async {
        while !requests.isEmpty {
            let batch = requests
            requests.removeAll()
            // Taken after the requests: an outcome recorded before a request was made is
            // in this commit or an earlier one.
            let taken = waiting.withLockedValue { waiting in
                defer { waiting = Waiting() }
                return waiting
            }
            do {
                let ids = batch.flatMap(\.ids)
                let marked = try await store.recordAndMarkSending(taken.outcomes, hardBounces: taken.hardBounces, marking: ids,
                                                                  owner: owner, now: Date())
                for request in batch { request.continuation.resume(returning: marked.intersection(request.ids)) }
            } catch {
                for request in batch { request.continuation.resume(throwing: error) }
            }
        }
        committing = false
    }
}
