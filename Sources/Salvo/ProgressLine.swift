import Foundation

/// Progress of a long command on stderr: one line rewritten in place on a terminal, and a
/// plain line now and then when stderr is a file or a pipe (cron logs stay readable).
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let unit: String
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPrinted: Date
    private var shown = false

    init(unit: String) {
        self.unit = unit
        // Off a terminal the first line comes after ten seconds: short runs print none.
        lastPrinted = isTerminal ? .distantPast : Date()
    }

    func update(_ count: Int) {
        show("\(count.formatted()) \(unit)")
    }

    /// Shows `text` as the current progress (rate-limited).
    func show(_ text: String) {
        lock.withLock {
            let now = Date()
            let interval: TimeInterval = isTerminal ? 0.2 : 10
            guard now.timeIntervalSince(lastPrinted) >= interval else { return }
            lastPrinted = now
            if isTerminal {
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
                shown = true
            } else {
                FileHandle.standardError.write(Data("\(text)\n".utf8))
            }
        }
    }

    /// Clears the in-place line before the command prints its result.
    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
