import Synchronization

/// What one store has appended to the send log since it last applied it: the first row's
/// sequence number and time. With the last row's number, which SQLite gives for free after
/// an insert, that says when the log is due to be applied, without a query on every
/// commit.
///
/// It counts this store's rows only. Another process's rows are applied by that process,
/// or by the next transaction here that reads delivery states (which applies the whole
/// log first); a log another process has applied meanwhile is smaller than the tally
/// thinks, which only makes this store apply it sooner. Either way only the time a row
/// waits in the log changes, never what it records.
final class SendLogTally: Sendable {
    private struct State {
        var first: (seq: Int64, at: Int64)?
        var last: Int64 = 0
    }
    private let state = Mutex(State())

    /// Notes a commit's rows (`first`: its first row, `last`: its last one's number; nil
    /// when it logged none) and answers whether the log is due: `due` rows or more, or a
    /// first row older than `now` (seconds).
    func logged(first rows: (seq: Int64, at: Int64)?, last newest: Int64?, due: Int, now: Int64) -> Bool {
        state.withLock { state in
            if state.first == nil { state.first = rows }
            if let newest { state.last = newest }
            guard let first = state.first else { return false }
            return state.last - first.seq + 1 >= Int64(due) || first.at < now
        }
    }

    /// The log was applied and emptied.
    func applied() {
        state.withLock { $0.first = nil }
    }
}
