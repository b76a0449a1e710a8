import Foundation

/// An mbox file: messages each starting with a "From " line, as Postfix's local and
/// virtual agents, Exim's appendfile and procmail write them. A file without any
/// "From " line is one message, as a mail client saves it (.eml).
///
/// Both common variants are read the same way: a line starting with ">From " (mboxo)
/// or ">>From " (mboxrd) loses one ">". For mboxrd that is exact; for mboxo it undoes
/// the quoting the delivery agent added and at worst alters a body line that already
/// began with ">From ", which changes nothing a report is read for.
public struct MboxFile: BounceSource {
    public let path: String
    public var name: String { path }

    public init(path: String) { self.path = path }

    public func forEachMessage(_ body: (RawMailMessage) async throws -> Void) async throws {
        let data: Data
        do {
            // Mapped, not read: a bounce mailbox can be large, and only one message's
            // bytes are copied at a time.
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw BounceSourceError("cannot read \(path): \((error as NSError).localizedDescription)")
        }
        let label = (path as NSString).lastPathComponent
        // First the byte ranges of the messages (after each "From " line), then one
        // message at a time copied out, unquoted, and handed on.
        var single = false
        let ranges: [Range<Int>] = data.withUnsafeBytes { buffer in
            let bytes = buffer.bindMemory(to: UInt8.self)
            var ranges: [Range<Int>] = []
            var messageStart: Int?
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                let next = min(lineEnd + 1, bytes.count)
                if Self.isSeparator(UnsafeBufferPointer(rebasing: bytes[lineStart..<next])) {
                    if let start = messageStart { ranges.append(start..<lineStart) }
                    messageStart = next
                }
                // Text before the first "From " line is not a message: skipped.
                lineStart = next
            }
            if let start = messageStart { ranges.append(start..<bytes.count) }
            // No "From " line at all: a single message saved as a file (.eml).
            if messageStart == nil, bytes.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) {
                single = true
                ranges.append(0..<bytes.count)
            }
            return ranges
        }
        for (index, range) in ranges.enumerated() {
            let message: [UInt8] = data.withUnsafeBytes { buffer in
                let bytes = buffer.bindMemory(to: UInt8.self)
                var message: [UInt8] = []
                message.reserveCapacity(range.count)
                var lineStart = range.lowerBound
                while lineStart < range.upperBound {
                    var lineEnd = lineStart
                    while lineEnd < range.upperBound, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                    let next = min(lineEnd + 1, range.upperBound)
                    message += Self.unquoted(UnsafeBufferPointer(rebasing: bytes[lineStart..<next]))
                    lineStart = next
                }
                // The blank line before the next "From " separates messages; it is not theirs.
                if message.count >= 2, message.suffix(2).elementsEqual([0x0A, 0x0A]) {
                    message.removeLast()
                } else if message.count >= 4, message.suffix(4).elementsEqual([0x0D, 0x0A, 0x0D, 0x0A]) {
                    message.removeLast(2)
                }
                return message
            }
            try await body(RawMailMessage(place: single ? label : "\(label) message \(index + 1)", bytes: message))
        }
    }

    static func isSeparator(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.count >= 5 && line[0] == UInt8(ascii: "F") && line[1] == UInt8(ascii: "r") && line[2] == UInt8(ascii: "o")
            && line[3] == UInt8(ascii: "m") && line[4] == UInt8(ascii: " ")
    }

    /// `>From `, `>>From ` … lose one `>`.
    static func unquoted(_ line: UnsafeBufferPointer<UInt8>) -> ArraySlice<UInt8> {
        var index = 0
        while index < line.count, line[index] == UInt8(ascii: ">") { index += 1 }
        let quoted = index > 0 && line.count - index >= 5 && line[index] == UInt8(ascii: "F")
            && line[index + 1] == UInt8(ascii: "r") && line[index + 2] == UInt8(ascii: "o")
            && line[index + 3] == UInt8(ascii: "m") && line[index + 4] == UInt8(ascii: " ")
        return Array(line)[(quoted ? 1 : 0)...]
    }
}
