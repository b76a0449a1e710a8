import Foundation

/// Progress of a long command on stderr: one line rewritten in place on a terminal, and a
/// plain line now and then when stderr is a file or a pipe (cron logs stay readable).
final class ProgressLine {
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
        let now = Date()
        let interval: TimeInterval = isTerminal ? 0.2 : 10
        guard now.timeIntervalSince(lastPrinted) >= interval else { return }
        lastPrinted = now
        let text = "\(count.formatted()) \(unit)"
        if isTerminal {
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)".utf8))
            shown = true
        } else if count > 0 {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    /// Clears the in-place line before the command prints its result.
    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
