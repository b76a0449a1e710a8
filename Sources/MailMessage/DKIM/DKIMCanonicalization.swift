import Crypto

/// DKIM "relaxed" canonicalisation (RFC 6376 §3.4.2 and §3.4.4), on bytes.
///
/// The body is canonicalised while it is hashed: nothing the size of the body is
/// copied, and runs of empty lines are only counted until a non-empty line proves they
/// are not trailing.
enum RelaxedCanonicalization {
    /// The SHA-256 of the relaxed body.
    static func bodyHash(_ body: [UInt8]) -> SHA256.Digest {
        var hasher = SHA256()
        body.withUnsafeBufferPointer { hashBody($0, into: &hasher) }
        return hasher.finalize()
    }

    /// The relaxed body itself, for tests and diagnostics.
    static func body(_ body: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        body.withUnsafeBufferPointer { buffer in
            var sink = ArraySink(bytes: [])
            process(buffer) { sink.bytes.append(contentsOf: $0) }
            output = sink.bytes
        }
        return output
    }

    private struct ArraySink { var bytes: [UInt8] }

    private static func hashBody(_ body: UnsafeBufferPointer<UInt8>, into hasher: inout SHA256) {
        process(body) { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    private static let crlf: [UInt8] = [13, 10]

    /// Feeds the canonical body to `emit` in chunks.
    private static func process(_ body: UnsafeBufferPointer<UInt8>, emit: (UnsafeBufferPointer<UInt8>) -> Void) {
        var line: [UInt8] = []
        line.reserveCapacity(1024)
        var emptyLines = 0
        var index = 0
        let count = body.count
        crlf.withUnsafeBufferPointer { crlfBuffer in
            func endLine() {
                // Trailing whitespace was never written (runs are only flushed before
                // a non-whitespace byte), so `line` is already canonical.
                if line.isEmpty {
                    emptyLines += 1
                } else {
                    for _ in 0..<emptyLines { emit(crlfBuffer) }
                    emptyLines = 0
                    line.withUnsafeBufferPointer { emit($0) }
                    emit(crlfBuffer)
                    line.removeAll(keepingCapacity: true)
                }
            }
            var pendingSpace = false
            var sawContent = false
            while index < count {
                let byte = body[index]
                if byte == 13, index + 1 < count, body[index + 1] == 10 {
                    pendingSpace = false
                    endLine()
                    sawContent = false
                    index += 2
                    continue
                }
                if byte == 32 || byte == 9 {
                    pendingSpace = true
                } else {
                    if pendingSpace {
                        line.append(32)
                        pendingSpace = false
                    }
                    line.append(byte)
                    sawContent = true
                }
                index += 1
            }
            // A last line without CRLF still counts, and gets one.
            if sawContent || !line.isEmpty { endLine() }
        }
    }

    /// `name:value` relaxed: name lower-cased, value unfolded, whitespace runs reduced
    /// to one space, whitespace at either end removed. Appends no CRLF.
    static func header(name: String, value: String, into output: inout [UInt8]) {
        for byte in name.utf8 {
            output.append(byte >= 65 && byte <= 90 ? byte + 32 : byte)
        }
        output.append(UInt8(ascii: ":"))
        var pendingSpace = false
        var started = false
        for byte in value.utf8 {
            switch byte {
            case 13, 10:
                continue
            case 32, 9:
                pendingSpace = started
            default:
                if pendingSpace {
                    output.append(32)
                    pendingSpace = false
                }
                output.append(byte)
                started = true
            }
        }
    }
}
