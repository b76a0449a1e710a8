import Foundation

/// The lines a peer writes to a FIFO, as they come: a test waits for the lines that
/// satisfy it and is woken by the line that does, instead of reading a file again and
/// again. The peer opens `path` for writing and writes one line per event.
///
/// The reader holds the FIFO open for reading and writing, so opening it never blocks
/// either side; `close()` ends the reader with a line of its own.
public final class LineStream: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var ended = false
    private var waiters: [Waiter] = []
    private var nextID = 0
    private static let endMark = "\u{0}end of stream"

    private struct Waiter {
        var id: Int
        var condition: @Sendable ([String]) -> Bool
        var continuation: CheckedContinuation<Bool, Never>
    }

    /// Makes the FIFO at `path` and starts reading it.
    public init(path: String) throws {
        guard mkfifo(path, 0o600) == 0 else { throw PeerError("cannot make the FIFO \(path): \(String(cString: strerror(errno)))") }
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw PeerError("cannot open the FIFO \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        self.fd = fd
        Thread { [self] in readLines() }.start()
    }

    /// Every line so far.
    public var lines: [String] { lock.withLock { received } }

    /// Waits until `condition` holds for the lines so far. False when the stream was
    /// closed first, or when `deadline` passed: a guard against a hang, never a measurement.
    public func waitFor(deadline: Duration = .seconds(60), _ condition: @escaping @Sendable ([String]) -> Bool) async -> Bool {
        await withCheckedContinuation { continuation in
            let (id, answer): (Int, Bool?) = lock.withLock {
                if condition(received) { return (0, true) }
                if ended { return (0, false) }
                nextID += 1
                waiters.append(Waiter(id: nextID, condition: condition, continuation: continuation))
                return (nextID, nil)
            }
            if let answer {
                continuation.resume(returning: answer)
                return
            }
            let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
                let expired = lock.withLock { waiters.firstIndex { $0.id == id }.map { waiters.remove(at: $0) } }
                expired?.continuation.resume(returning: false)
            }
        }
    }

    /// Ends the reader; waiters still waiting are answered false.
    public func close() {
        let mark = Array((Self.endMark + "\n").utf8)
        _ = mark.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private func readLines() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        reading: while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            pending += buffer[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line == Self.endMark { break reading }
                let satisfied: [Waiter] = lock.withLock {
                    received.append(line)
                    let satisfied = waiters.filter { $0.condition(received) }
                    waiters.removeAll { waiter in satisfied.contains { $0.id == waiter.id } }
                    return satisfied
                }
                for waiter in satisfied { waiter.continuation.resume(returning: true) }
            }
        }
        let left: [Waiter] = lock.withLock {
            ended = true
            defer { waiters = [] }
            return waiters
        }
        for waiter in left { waiter.continuation.resume(returning: false) }
        Foundation.close(fd)
    }
}
