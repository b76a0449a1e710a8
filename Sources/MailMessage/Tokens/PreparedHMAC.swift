import Crypto
import Foundation

/// HMAC-SHA256 (RFC 2104) with its key's two padded blocks hashed once, when the key is
/// made, rather than for every message authenticated under it.
///
/// A send makes a token or more for every recipient under one key; the padded key blocks
/// are the first two of the four SHA-256 compressions a short token costs. Each code
/// starts from a copy of the prepared inner and outer states and feeds them through
/// `SHA256`'s buffer-pointer calls, which need no generic collection handling: this is
/// what makes the token cheap next to `HMAC<SHA256>`, whose result it equals for every
/// key and message (the tests compare the two).
struct PreparedHMAC: Sendable {
    static let blockLength = 64
    private let inner: SHA256
    private let outer: SHA256

    init(key: some ContiguousBytes) {
        var block = [UInt8](repeating: 0, count: Self.blockLength)
        key.withUnsafeBytes { key in
            if key.count > Self.blockLength {
                // A key longer than the block is hashed first (RFC 2104, section 2).
                var hash = SHA256()
                hash.update(bufferPointer: key)
                block.replaceSubrange(0..<SHA256Digest.byteCount, with: Array(hash.finalize()))
            } else {
                block.replaceSubrange(0..<key.count, with: key)
            }
        }
        var inner = SHA256(), outer = SHA256()
        block.map { $0 ^ 0x36 }.withUnsafeBytes { inner.update(bufferPointer: $0) }
        block.map { $0 ^ 0x5C }.withUnsafeBytes { outer.update(bufferPointer: $0) }
        self.inner = inner
        self.outer = outer
    }

    /// The 32-byte code of `message`.
    func code(_ message: UnsafeRawBufferPointer) -> SHA256Digest {
        var inner = self.inner
        inner.update(bufferPointer: message)
        return finish(inner)
    }

    /// The 32-byte code of `first` followed by `second`, without joining them.
    func code(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> SHA256Digest {
        var inner = self.inner
        inner.update(bufferPointer: first)
        inner.update(bufferPointer: second)
        return finish(inner)
    }

    private func finish(_ inner: SHA256) -> SHA256Digest {
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }
}
