import Foundation
import NIOCore
import Testing
@testable import SMTP

@Suite struct DataEncoderTests {
    func encoded(_ text: String) -> String {
        var out = ByteBuffer()
        SMTPDataEncoder.encode(ByteBuffer(string: text), into: &out)
        return String(buffer: out)
    }

    @Test func linesStartingWithADotAreStuffed() {
        #expect(encoded(".\r\n..x\r\na.b\r\n.end") == "..\r\n...x\r\na.b\r\n..end\r\n.\r\n")
    }

    @Test func bareLineEndsBecomeCRLF() {
        #expect(encoded("a\nb\rc\r\nd\n\n") == "a\r\nb\r\nc\r\nd\r\n\r\n.\r\n")
        #expect(encoded("x\r") == "x\r\n.\r\n")
        #expect(encoded("\n.") == "\r\n..\r\n.\r\n")
    }

    @Test func emptyMessageIsJustTheTerminator() {
        #expect(encoded("") == ".\r\n")
    }

    @Test func eightBitBytesPassUntouched() {
        var out = ByteBuffer()
        SMTPDataEncoder.encode([0xC3, 0xA9, 0x0A, 0x2E, 0xFF], into: &out)
        #expect(Array(out.readableBytesView) == [0xC3, 0xA9, 0x0D, 0x0A, 0x2E, 0x2E, 0xFF, 0x0D, 0x0A, 0x2E, 0x0D, 0x0A])
    }

    /// Undoing the encoding as a server does gives back the CRLF-normalised input.
    @Test func roundTripOnRandomMessages() {
        var random = SplitMix64(seed: 42)
        let alphabet = Array("ab.\r\n .".utf8)
        for _ in 0..<2000 {
            let input = (0..<Int(random.next() % 64)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            var out = ByteBuffer()
            SMTPDataEncoder.encode(input, into: &out)
            let lines = String(buffer: out).components(separatedBy: "\r\n")
            #expect(lines.suffix(2) == [".", ""])
            let body = lines.dropLast(2).map { $0.hasPrefix(".") ? String($0.dropFirst()) : $0 }
            var expected = String(decoding: input, as: UTF8.self)
                .replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            if !expected.isEmpty && !expected.hasSuffix("\n") { expected += "\n" }
            let decoded = body.isEmpty ? "" : body.joined(separator: "\n") + "\n"
            #expect(decoded == expected, "input \(String(decoding: input, as: UTF8.self).debugDescription)")
            for line in lines.dropLast(2) { #expect(line != ".", "a lone dot would end the data early") }
        }
    }
}
