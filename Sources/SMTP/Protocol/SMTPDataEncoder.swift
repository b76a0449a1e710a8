import NIOCore

/// The DATA phase encoding (RFC 5321 §4.5.2): every line ends in CRLF (a bare LF or a
/// bare CR becomes CRLF), a line starting with "." gets one more ".", and the message
/// ends with `CRLF.CRLF`.
///
/// This runs once per message sent, so it works on raw bytes and copies runs of ordinary
/// bytes in one go instead of appending byte by byte.
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
        var runStart = 0
        var atLineStart = true
        var index = 0
        while index < count {
            let byte = raw[index]
            if byte > cr {
                // The common case: neither a line end nor (except at a line start) a dot.
                if byte == dot && atLineStart {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index]))
                    buffer.writeInteger(dot)
                    runStart = index
                }
                atLineStart = false
                index += 1
            } else if byte == cr {
                if index + 1 < count, raw[index + 1] == lf {
                    index += 2
                } else {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index]))
                    buffer.writeStaticString("\r\n")
                    index += 1
                    runStart = index
                }
                atLineStart = true
            } else if byte == lf {
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index]))
                buffer.writeStaticString("\r\n")
                index += 1
                runStart = index
                atLineStart = true
            } else {
                atLineStart = false
                index += 1
            }
        }
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<count]))
        if !atLineStart { buffer.writeStaticString("\r\n") }
        buffer.writeStaticString(".\r\n")
    }
}
