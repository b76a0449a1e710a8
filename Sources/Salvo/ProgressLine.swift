import Foundation

/// Progress of a long command on stderr: one line rewritten in place on a terminal, and a
/// plain line now and then when stderr is a file or a pipe (cron logs stay readable).
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private let unit: String
    let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPrinted: Date
    private var shown = false

    init(unit: String) {
        self.unit = unit
        // Off a terminal the first line comes after one interval: short runs print none.
        lastPrinted = isTerminal ? .distantPast : Date()
    }

    func update(_ count: Int) {
        show("\(count.formatted()) \(unit)")
    }

    /// Shows `text` as the current progress (rate-limited: 0.2 s on a terminal, 10 s off).
    func show(_ text: String) {
        show(terminal: { _ in text }, log: { _ in text }, logInterval: 10)
    }

    /// Shows `terminal(now)` in place on a terminal, else `log(now)` as a line every
    /// `logInterval` seconds; each is called only when it is printed.
    func show(terminal: (Date) -> String, log: (Date) -> String, logInterval: TimeInterval) {
        lock.withLock {
            let now = Date()
            let interval: TimeInterval = isTerminal ? 0.2 : logInterval
            guard now.timeIntervalSince(lastPrinted) >= interval else { return }
            lastPrinted = now
            if isTerminal {
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(terminal(now))".utf8))
                shown = true
            } else {
                FileHandle.standardError.write(Data("\(log(now))\n".utf8))
            }
        }
    }

    /// The width of the terminal on stderr (80 when unknown).
    var columns: Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Clears the in-place line before the command prints its result.
    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
