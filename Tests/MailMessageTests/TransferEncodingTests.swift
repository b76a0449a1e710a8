import Testing
@testable import MailMessage

/// Decodes quoted-printable, independently of the encoder, to check round trips.
func decodeQuotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
    var output: [UInt8] = []
    var index = 0
    func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: byte - 48
        case 65...70: byte - 55
        case 97...102: byte - 87
        default: nil
        }
    }
    while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "=") {
            if index + 2 < bytes.count, bytes[index + 1] == 13, bytes[index + 2] == 10 {
                index += 3
                continue
            }
            if index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                output.append(high << 4 | low)
                index += 3
                continue
            }
        }
        output.append(byte)
        index += 1
    }
    return output
}

func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    var result: [ArraySlice<UInt8>] = []
    var start = 0
    var index = 0
    while index < bytes.count {
        if bytes[index] == 13, index + 1 < bytes.count, bytes[index + 1] == 10 {
            result.append(bytes[start..<index])
            index += 2
            start = index
        } else {
            index += 1
        }
    }
    if start < bytes.count { result.append(bytes[start...]) }
    return result
}

@Suite struct QuotedPrintableTests {
    @Test func keepsShortASCIILinesReadable() {
        let encoded = QuotedPrintable.encode(Array("Hello Ann,\nsee you soon.\n".utf8))
        #expect(String(decoding: encoded, as: UTF8.self) == "Hello Ann,\r\nsee you soon.\r\n")
    }

    @Test func encodesEightBitEqualsAndTrailingWhitespace() {
        let encoded = String(decoding: QuotedPrintable.encode(Array("Zoë = 1 \nend\t".utf8)), as: UTF8.self)
        #expect(encoded == "Zo=C3=AB =3D 1=20\r\nend=09")
    }

    @Test func encodesLeadingDotSoCarelessRelaysCannotEatIt() {
        let encoded = String(decoding: QuotedPrintable.encode(Array(".\n..x".utf8)), as: UTF8.self)
        #expect(encoded == "=2E\r\n=2E.x")
    }

    @Test func encodesALeadingFromSoMboxCannotMangleIt() {
        let encoded = String(decoding: QuotedPrintable.encode(Array("From here\nFrom\nFromage".utf8)), as: UTF8.self)
        #expect(encoded == "=46rom here\r\nFrom\r\nFromage")
    }

    @Test func breaksLongLinesAt76AndRoundTrips() {
        var text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40)
        text += "\n" + String(repeating: "ü€", count: 200) + "\n" + String(repeating: "=", count: 300)
        text += "\n" + String(repeating: "x", count: 75) + " \n"
        let input = Array(text.utf8)
        let encoded = QuotedPrintable.encode(input)
        for line in lines(encoded) {
            #expect(line.count <= 76)
            #expect(line.allSatisfy { $0 >= 32 && $0 < 127 })
            #expect(line.last != 32 && line.last != 9)
        }
        let expected = Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        #expect(decodeQuotedPrintable(encoded) == expected)
    }

    /// Random text from the pieces that take the encoder's different paths (runs of
    /// printable bytes, blanks before line breaks, "=", 8-bit bytes, a leading "." or
    /// "From ", long lines): every line fits, no line ends in a blank, and it decodes
    /// back to the input with CRLF line breaks.
    @Test func roundTripsRandomText() {
        var generator = SystemRandomNumberGenerator()
        let pieces: [[UInt8]] = [
            Array("word".utf8), Array(" ".utf8), Array("\t".utf8), Array("\n".utf8), Array("\r\n".utf8), Array("=".utf8),
            Array(".".utf8), Array("From ".utf8), Array("ü".utf8), [0x00], [0x7F], [0xFF],
            Array(String(repeating: "x", count: 70).utf8), Array("a, b; (c) <d> [e] ~!".utf8),
        ]
        for _ in 0..<500 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 0...60, using: &generator) { input += pieces.randomElement(using: &generator)! }
            let encoded = QuotedPrintable.encode(input)
            for line in lines(encoded) {
                #expect(line.count <= 76)
                #expect(line.allSatisfy { ($0 >= 32 && $0 < 127) || $0 == 9 })
                #expect(line.last != 32 && line.last != 9)
                #expect(line.first != UInt8(ascii: "."))
                #expect(!line.starts(with: Array("From ".utf8)))
            }
            var expected: [UInt8] = []
            var index = 0
            while index < input.count {
                if input[index] == 13 || input[index] == 10 {
                    expected += [13, 10]
                    index += input[index] == 13 && index + 1 < input.count && input[index + 1] == 10 ? 2 : 1
                } else {
                    expected.append(input[index])
                    index += 1
                }
            }
            #expect(decodeQuotedPrintable(encoded) == expected)
        }
    }

    @Test func normalisesBareLineBreaksToCRLF() {
        let encoded = String(decoding: QuotedPrintable.encode(Array("a\rb\nc\r\nd".utf8)), as: UTF8.self)
        #expect(encoded == "a\r\nb\r\nc\r\nd")
    }
}

@Suite struct Base64Tests {
    @Test func wrapsAt76WithCRLF() {
        let data = (0..<1000).map { UInt8($0 % 256) }
        var output: [UInt8] = []
        Base64.encode(data, into: &output, lineLength: 76)
        let all = lines(output)
        #expect(all.dropLast().allSatisfy { $0.count == 76 })
        #expect(all.last!.count <= 76)
        #expect(output.suffix(2) == [13, 10])
        #expect(Base64.decode(String(decoding: output.filter { $0 != 13 && $0 != 10 }, as: UTF8.self)) == data)
    }

    @Test func matchesRFC4648Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (input, expected) in vectors {
            #expect(Base64.encode(Array(input.utf8)) == expected)
            #expect(Base64.decode(expected) == Array(input.utf8))
        }
        #expect(Base64.encode([0xFB, 0xFF], urlSafe: true, padding: false) == "-_8")
    }
}

import Foundation
