import Foundation

/// Reads and encodes an import file on its own thread, handing batches of rows to the
/// writer through a small bounded queue: memory stays flat (at most `depth` batches are
/// in flight) while parsing overlaps SQLite's work.
///
/// Each batch's accepted rows are sorted by address before they are handed over. Lists
/// come in no useful order, and inserting a million random keys into the
/// (list_id, email) index costs twice as much as inserting them in runs of neighbours:
/// sorted, consecutive inserts land on the same few index pages. Rows with the same
/// address (ignoring case) keep their file order (the sort key includes the line), so
/// the first spelling in the file is the one kept and the last row's values win.
final class ImportPipeline: @unchecked Sendable {
    struct Batch {
        var bytes: [UInt8] = []
        var rows: [RowEncoder.Row] = []
    }

    private let condition = NSCondition()
    private var reader: CSVReader
    private var queue: [Batch] = []
    private var finished = false
    private var cancelled = false
    private(set) var error: Error?
    private var waiter: CheckedContinuation<Void, Never>?
    private let depth = 2
    private let batchRows = 32_768

    init(reader: consuming CSVReader) {
        self.reader = reader
    }

    deinit {
        cancel()
    }

    /// Starts reading with `encoder`; call once.
    func start(encoder: RowEncoder) {
        let thread = Thread { [self] in produce(encoder) }
        thread.name = "salvo-import-reader"
        thread.start()
    }

    /// The next batch in file order; nil when the file is done (check `error`).
    func nextBatch() -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !finished { condition.wait() }
        if queue.isEmpty { return nil }
        let batch = queue.removeFirst()
        condition.signal()
        return batch
    }

    /// `nextBatch()` for a writer in a task: it waits without holding its thread (a
    /// cooperative pool thread blocked here would stall every other task).
    func nextBatch() async -> Batch? {
        while true {
            if let next = poll() { return next }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if !park(continuation) { continuation.resume() }
            }
        }
    }

    /// The next batch, `.some(nil)` when the file is done, nil when none is ready yet.
    private func poll() -> Batch?? {
        condition.lock()
        defer { condition.unlock() }
        if !queue.isEmpty {
            let batch = queue.removeFirst()
            condition.signal()
            return .some(batch)
        }
        return finished ? .some(nil) : nil
    }

    /// Leaves `continuation` for the reader to resume when a batch arrives or the file
    /// ends; false (nothing left) if one is there already.
    private func park(_ continuation: CheckedContinuation<Void, Never>) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !queue.isEmpty || finished { return false }
        waiter = continuation
        return true
    }

    /// Resumes the task waiting in `nextBatch() async`, if any; called with the lock held.
    private func wakeWaiter() {
        waiter?.resume()
        waiter = nil
    }

    /// Stops the reader thread early (the writer failed).
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    private func produce(_ encoder: RowEncoder) {
        var batch = Batch()
        batch.bytes.reserveCapacity(batchRows * 128)
        do {
            while let outcome = try reader.next() {
                switch outcome {
                case .malformed(let line, let problem):
                    batch.rows.append(.rejected(ImportReject(line: line, email: nil, reason: problem.description)))
                case .record(let line):
                    batch.rows.append(encoder.encode(reader, line: line, into: &batch.bytes))
                }
                if batch.rows.count == batchRows {
                    guard push(Self.sorted(batch)) else { return }
                    batch = Batch()
                    batch.bytes.reserveCapacity(batchRows * 128)
                }
            }
        } catch {
            condition.lock()
            self.error = error
            condition.unlock()
        }
        if !batch.rows.isEmpty { _ = push(Self.sorted(batch)) }
        condition.lock()
        finished = true
        condition.broadcast()
        wakeWaiter()
        condition.unlock()
    }

    /// The batch with its rejects first (in file order), then its accepted rows by
    /// address and line.
    private static func sorted(_ batch: Batch) -> Batch {
        var result = Batch(bytes: batch.bytes, rows: [])
        result.rows.reserveCapacity(batch.rows.count)
        var accepted: [(line: Int, email: Range<Int>, key: Range<Int>, attributes: Range<Int>)] = []
        accepted.reserveCapacity(batch.rows.count)
        for row in batch.rows {
            switch row {
            case .rejected: result.rows.append(row)
            case .accepted(let line, let email, let key, let attributes): accepted.append((line, email, key, attributes))
            }
        }
        batch.bytes.withUnsafeBufferPointer { bytes in
            // By key (the address ignoring case), then line: the spellings of one address
            // meet the store in file order, so the first one in the file is the one kept.
            accepted.sort { a, b in
                let lengthA = a.key.count, lengthB = b.key.count
                let order = memcmp(bytes.baseAddress! + a.key.lowerBound, bytes.baseAddress! + b.key.lowerBound, min(lengthA, lengthB))
                if order != 0 { return order < 0 }
                if lengthA != lengthB { return lengthA < lengthB }
                return a.line < b.line
            }
        }
        for row in accepted { result.rows.append(.accepted(line: row.line, email: row.email, key: row.key, attributes: row.attributes)) }
        return result
    }

    /// Queues a batch, waiting while the queue is full; false once cancelled.
    private func push(_ batch: Batch) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= depth && !cancelled { condition.wait() }
        if cancelled { return false }
        queue.append(batch)
        condition.broadcast()
        wakeWaiter()
        return true
    }
}
