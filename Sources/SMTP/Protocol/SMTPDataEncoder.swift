#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// The DATA phase encoding (RFC 5321 §4.5.2): every line ends in CRLF (a bare LF or a
/// bare CR becomes CRLF), a line starting with "." gets one more ".", and the message
/// ends with `CRLF.CRLF`.
///
/// This runs once per message sent, so it works on raw bytes: memchr finds the line ends
/// and runs of ordinary bytes are copied in one go, never byte by byte.
public enum SMTPDataEncoder {
    /// Appends the encoded form of `message` to `buffer`, terminator included.
    public static func encode(_ message: ByteBuffer, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: message.readableBytes + message.readableBytes / 64 + 8)
        message.withUnsafeReadableBytes { raw in
            encode(raw, into: &buffer)
        }
    }

    /// Appends the encoded form of `message` to `buffer`, terminator included.
    public static func encode(_ message: [UInt8], into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: message.count + message.count / 64 + 8)
        message.withUnsafeBytes { raw in
            encode(raw, into: &buffer)
        }
    }

    static func encode(_ raw: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n"), dot = UInt8(ascii: ".")
        let count = raw.count
        guard let base = raw.baseAddress, count > 0 else {
            buffer.writeStaticString(".\r\n")
            return
        }
        func byte(_ index: Int) -> UInt8 { base.load(fromByteOffset: index, as: UInt8.self) }
        func copy(_ from: Int, _ to: Int, into buffer: inout ByteBuffer) {
            if to > from { buffer.writeBytes(UnsafeRawBufferPointer(start: base + from, count: to - from)) }
        }
        // Bytes in runStart..<(current position) are copied unchanged, in one call, when
        // something has to be inserted or replaced. Line ends are found with memchr.
        var runStart = 0
        var lineStart = 0
        while lineStart < count {
            if byte(lineStart) == dot {
                copy(runStart, lineStart, into: &buffer)
                buffer.writeInteger(dot)
                runStart = lineStart
            }
            let lfPointer = memchr(base + lineStart, Int32(lf), count - lineStart)
            let lineEnd = lfPointer.map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? count
            // A CR inside the line that is not the CR of CRLF ends a line of its own.
            var searchFrom = lineStart
            while searchFrom < lineEnd, let crPointer = memchr(base + searchFrom, Int32(cr), lineEnd - searchFrom) {
                let position = UnsafeRawPointer(crPointer) - UnsafeRawPointer(base)
                if position + 1 == lineEnd && lineEnd < count { break }
                copy(runStart, position, into: &buffer)
                buffer.writeStaticString("\r\n")
                runStart = position + 1
                lineStart = position + 1
                if lineStart < count, byte(lineStart) == dot {
                    buffer.writeInteger(dot)
                }
                searchFrom = position + 1
            }
            guard lineEnd < count else { break }
            if !(lineEnd > lineStart && byte(lineEnd - 1) == cr) {
                // A bare LF.
                copy(runStart, lineEnd, into: &buffer)
                buffer.writeStaticString("\r\n")
                runStart = lineEnd + 1
            }
            lineStart = lineEnd + 1
        }
        copy(runStart, count, into: &buffer)
        if lineStart < count { buffer.writeStaticString("\r\n") }
        buffer.writeStaticString(".\r\n")
    }
}
