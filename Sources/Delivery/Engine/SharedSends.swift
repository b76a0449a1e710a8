import NIOConcurrencyHelpers

/// The sends this engine took from the store's shared buckets (`SharedLimits.takeSends`)
/// and has not used yet, per key: a take that fell short, or a transaction that was not
/// sent after all, leaves its sends here for the next message instead of losing them.
final class SharedSends: Sendable {
    private let banked = NIOLockedValueBox<[String: Int]>([:])

    /// Takes up to `count` of `key` from the bank; returns how many are still missing.
    func withdraw(_ key: String, _ count: Int) -> Int {
        banked.withLockedValue { banked in
            let taken = min(count, banked[key] ?? 0)
            banked[key] = (banked[key] ?? 0) - taken
            return count - taken
        }
    }

    /// Keeps `count` sends of `key` for later.
    func deposit(_ key: String, _ count: Int) {
        guard count > 0 else { return }
        banked.withLockedValue { $0[key, default: 0] += count }
    }
}
