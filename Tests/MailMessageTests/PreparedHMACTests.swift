import Foundation
import Crypto
import Testing
import TestPeers
@testable import MailMessage

@Suite struct PreparedHMACTests {
    /// The prepared key gives swift-crypto's HMAC-SHA256 for keys shorter than, as long
    /// as and longer than the block (which are hashed first), and messages across block
    /// boundaries, in one part or two. The keys and messages are the same on every run.
    @Test func equalsHMACSHA256() {
        var generator = SeededGenerator(seed: 0x484D_4143)
        for keyLength in [0, 1, 31, 32, 63, 64, 65, 200] {
            let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let prepared = PreparedHMAC(key: key)
            for messageLength in [0, 1, 20, 55, 56, 63, 64, 65, 119, 120, 500] {
                let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
                let whole = message.withUnsafeBytes { Array(prepared.code($0)) }
                #expect(whole == expected, "key \(keyLength) bytes, message \(messageLength) bytes")
                let cut = messageLength / 3
                let parts = message.withUnsafeBytes { Array(prepared.code(UnsafeRawBufferPointer(rebasing: $0[..<cut]), UnsafeRawBufferPointer(rebasing: $0[cut...]))) }
                #expect(parts == expected, "key \(keyLength) bytes, message \(messageLength) bytes in two parts")
            }
        }
    }

    /// RFC 4231's test case 2: a key shorter than the block.
    @Test func matchesRFC4231() {
        let prepared = PreparedHMAC(key: Array("Jefe".utf8))
        let code = Array("what do ya want for nothing?".utf8).withUnsafeBytes { Array(prepared.code($0)) }
        #expect(code.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
