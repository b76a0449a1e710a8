import Crypto

/// DKIM "relaxed" canonicalisation (RFC 6376 §3.4.2 and §3.4.4), on bytes.
///
/// The body is canonicalised while it is hashed: nothing the size of the body is
/// copied, and runs of empty lines are only counted until a non-empty line proves they
/// are not trailing.
enum RelaxedCanonicalization {
    /// The SHA-256 of the relaxed body.
    static func bodyHash(_ body: [UInt8]) -> SHA256.Digest {
        var sink = HashSink(hasher: SHA256())
        body.withUnsafeBufferPointer { canonicalise($0, into: &sink) }
        return sink.hasher.finalize()
    }

    /// The relaxed body itself, for tests and diagnostics.
    static func body(_ body: [UInt8]) -> [UInt8] {
        var sink = ArraySink(bytes: [])
        body.withUnsafeBufferPointer { canonicalise($0, into: &sink) }
        return sink.bytes
    }

    private struct HashSink: CanonicalSink {
        var hasher: SHA256
        mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { hasher.update(bufferPointer: UnsafeRawBufferPointer(bytes)) }
    }

    private struct ArraySink: CanonicalSink {
        var bytes: [UInt8]
        mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes.append(contentsOf: bytes) }
    }

    private static let crlf: [UInt8] = [13, 10]
    private static let space: [UInt8] = [32]

    /// Writes the canonical body to `sink` as slices of `body`: runs of non-whitespace
    /// go through as they are, a whitespace run followed by more text becomes one
    /// space, whitespace at a line's end is dropped, and empty lines are only counted
    /// until text proves they are not trailing.
    private static func canonicalise(_ body: UnsafeBufferPointer<UInt8>, into sink: inout some CanonicalSink) {
        crlf.withUnsafeBufferPointer { crlf in
            space.withUnsafeBufferPointer { space in
                let count = body.count
                var pendingLineBreaks = 0
                var index = 0
                while index < count {
                    var lineHasContent = false
                    var pendingSpace = false
                    var runStart = -1
                    while index < count {
                        let byte = body[index]
                        if byte == 13, index + 1 < count, body[index + 1] == 10 { break }
                        if byte == 32 || byte == 9 {
                            if runStart >= 0 {
                                sink.write(UnsafeBufferPointer(rebasing: body[runStart..<index]))
                                runStart = -1
                            }
                            pendingSpace = true
                        } else if runStart < 0 {
                            if !lineHasContent {
                                while pendingLineBreaks > 0 {
                                    sink.write(crlf)
                                    pendingLineBreaks -= 1
                                }
                                lineHasContent = true
                            }
                            if pendingSpace {
                                sink.write(space)
                                pendingSpace = false
                            }
                            runStart = index
                        }
                        index += 1
                    }
                    if runStart >= 0 { sink.write(UnsafeBufferPointer(rebasing: body[runStart..<index])) }
                    if lineHasContent {
                        sink.write(crlf)
                    } else {
                        pendingLineBreaks += 1
                    }
                    if index < count { index += 2 }
                }
            }
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

private protocol CanonicalSink {
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>)
}
