import NIOCore

/// Cuts the server's byte stream into lines (CRLF, or a bare LF as lenient clients
/// accept), so a server that never ends a line cannot make the reader buffer forever.
struct POP3LineReader: Sendable {
    /// A line longer than the limit: its length so far and its first bytes.
    struct LineTooLong: Error, Sendable, Hashable {
        var length: Int
        var start: [UInt8]
    }

    /// The next line without its line end, or nil when no whole line is buffered yet.
    /// Throws when the line (or the unended bytes buffered) pass `maximumLength`.
    static func nextLine(_ buffer: inout ByteBuffer, maximumLength: Int) throws(LineTooLong) -> [UInt8]? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > maximumLength { throw LineTooLong(length: view.count, start: Array(view.prefix(160))) }
            return nil
        }
        var end = lf
        if end > view.startIndex, view[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let length = end - view.startIndex
        if length > maximumLength { throw LineTooLong(length: length, start: Array(view.prefix(160))) }
        let line = Array(view[view.startIndex..<end])
        buffer.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
        return line
    }
}
