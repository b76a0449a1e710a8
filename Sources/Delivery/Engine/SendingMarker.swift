import Foundation

/// Group commit for `DeliveryStore.markSending`: every worker must have its delivery
/// marked `sending` before its DATA goes out, and one transaction per message would cap
/// the whole engine at the store's commit rate. Requests that arrive while a commit is
/// running wait for the next one, which takes them all at once.
///
/// Each commit first writes the outcomes waiting in `recorder`: a worker marks its next
/// message only after its last one's outcome is on disk, so after a crash at most the
/// message on the wire of each connection is left in doubt (`unknown`).
actor SendingMarker {
    private let store: any DeliveryStore
    private let owner: String
    private let recorder: OutcomeRecorder?
    private var pending: [(ids: [Int64], continuation: CheckedContinuation<Set<Int64>, Error>)] = []
    private var committing = false

    init(store: any DeliveryStore, owner: String, recorder: OutcomeRecorder? = nil) {
        self.store = store
        self.owner = owner
        self.recorder = recorder
    }

    /// The ids of `ids` now marked `sending`; one missing was taken back by the store
    /// (the campaign was cancelled) and must not be sent.
    func mark(_ ids: [Int64]) async throws -> Set<Int64> {
        guard !ids.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            pending.append((ids, continuation))
            if !committing {
                committing = true
                Task { await self.commitLoop() }
            }
        }
    }

    private func commitLoop() async {
        while !pending.isEmpty {
            let batch = pending
            pending.removeAll()
            do {
                let ids = batch.flatMap(\.ids)
                let marked = if let recorder {
                    try await recorder.flush(thenMark: ids, now: Date())
                } else {
                    try await store.markSending(ids, owner: owner, now: Date())
                }
                for entry in batch { entry.continuation.resume(returning: marked.intersection(entry.ids)) }
            } catch {
                for entry in batch { entry.continuation.resume(throwing: error) }
            }
        }
        committing = false
    }
}

/// Batches outcomes into store transactions: flushed when `batchSize` are waiting, every
/// `interval`, and at the end. An outcome that is only in memory is a recipient in doubt
/// after a crash, so the interval is short.
actor OutcomeRecorder {
    private let store: any DeliveryStore
    private let owner: String
    private let batchSize: Int
    private var outcomes: [DeliveryOutcome] = []
    private var hardBounces: Set<Int64> = []
    private var flushing: Task<Set<Int64>, Error>?

    init(store: any DeliveryStore, owner: String, batchSize: Int) {
        self.store = store
        self.owner = owner
        self.batchSize = batchSize
    }

    func add(_ outcome: DeliveryOutcome, suppress: Bool) async throws {
        outcomes.append(outcome)
        if suppress { hardBounces.insert(outcome.deliveryID) }
        if outcomes.count >= batchSize { try await flush() }
    }

    func flush() async throws {
        _ = try await flush(thenMark: [], now: Date())
    }

    /// Writes what waits and marks `ids` `sending` in the same transaction (the sending
    /// marker's commit): one commit where two would do the same.
    func flush(thenMark ids: [Int64], now: Date) async throws -> Set<Int64> {
        // One flush at a time keeps outcomes in order per delivery.
        while let running = flushing { _ = try await running.value; if flushing == running { flushing = nil } }
        guard !outcomes.isEmpty || !ids.isEmpty else { return [] }
        let batch = outcomes, bounces = hardBounces
        outcomes.removeAll(keepingCapacity: true)
        hardBounces.removeAll()
        let task = Task { [store, owner] in
            try await store.recordAndMarkSending(batch, hardBounces: bounces, marking: ids, owner: owner, now: now)
        }
        flushing = task
        defer { if flushing == task { flushing = nil } }
        return try await task.value
    }
}

