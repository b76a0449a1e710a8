import NIOCore
import Testing
@testable import SMTP

@Suite struct ReplyParserTests {
    func parseAll(_ text: String, parser: inout SMTPReplyParser) throws(SMTPReplyParserError) -> [SMTPReply] {
        var buffer = ByteBuffer(string: text)
        var replies: [SMTPReply] = []
        while let reply = try parser.parse(&buffer) { replies.append(reply) }
        return replies
    }

    func parseAll(_ text: String) throws(SMTPReplyParserError) -> [SMTPReply] {
        var parser = SMTPReplyParser()
        return try parseAll(text, parser: &parser)
    }

    /// RFC 3463 §2: class 2, 4 or 5, then one to three digits twice, dot-separated.
    @Test(arguments: [
        ("2.0.0", "2.0.0"), ("5.1.1", "5.1.1"), ("4.7.650", "4.7.650"), ("5.01.001", "5.1.1"),
        ("3.1.1", nil), ("22.1.1", nil), ("2.1", nil), ("2.1.1.1", nil), ("2..1", nil), ("2.1.1234", nil),
        ("2.1234.1", nil), ("", nil), ("a.b.c", nil), ("2.1.x", nil), (".1.1", nil), ("2.1.", nil),
    ] as [(String, String?)])
    func enhancedStatusCodes(text: String, parsed: String?) {
        #expect(EnhancedStatusCode(Substring(text))?.description == parsed)
    }

    @Test func singleLineReplyWithEnhancedCode() throws {
        let replies = try parseAll("550 5.1.1 <x@y.test>: user unknown\r\n")
        #expect(replies == [SMTPReply(code: 550, enhancedCode: EnhancedStatusCode(statusClass: 5, subject: 1, detail: 1),
                                      lines: ["<x@y.test>: user unknown"])])
        #expect(replies[0].isPermanentFailure)
        #expect(replies[0].description == "550 5.1.1 <x@y.test>: user unknown")
    }

    @Test func multiLineEHLOReply() throws {
        let replies = try parseAll("250-mx.example.test Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n")
        #expect(replies.count == 1)
        #expect(replies[0].code == 250)
        #expect(replies[0].lines == ["mx.example.test Hello", "PIPELINING", "SIZE 10240000", "STARTTLS"])
        #expect(replies[0].enhancedCode == nil)
    }

    @Test func enhancedCodeOfAnotherClassIsText() throws {
        let replies = try parseAll("250 5.1.1 odd\r\n")
        #expect(replies[0].enhancedCode == nil)
        #expect(replies[0].lines == ["5.1.1 odd"])
    }

    @Test func codeWithoutTextAndBareLF() throws {
        let replies = try parseAll("250\r\n354 go ahead\n")
        #expect(replies.map(\.code) == [250, 354])
        #expect(replies[0].lines == [""])
    }

    @Test func partialInputWaitsForTheRest() throws {
        var parser = SMTPReplyParser()
        var buffer = ByteBuffer(string: "250-first\r\n250 sec")
        #expect(try parser.parse(&buffer) == nil)
        #expect(parser.isInsideReply)
        buffer.writeString("ond\r\n221 bye\r\n")
        #expect(try parser.parse(&buffer)?.lines == ["first", "second"])
        #expect(try parser.parse(&buffer)?.code == 221)
        #expect(try parser.parse(&buffer) == nil)
    }

    @Test func pipelinedRepliesComeOutInOrder() throws {
        let replies = try parseAll("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n451 4.2.0 later\r\n354 End data\r\n")
        #expect(replies.map(\.code) == [250, 250, 451, 354])
        #expect(replies[2].enhancedCode?.description == "4.2.0")
    }

    @Test(arguments: [
        ("hello world\r\n", "malformed"),
        ("25\r\n", "malformed"),
        ("2500 x\r\n", "malformed"),
        ("650 nope\r\n", "malformed"),
        ("25a x\r\n", "malformed"),
        ("250-a\r\n251 b\r\n", "inconsistent"),
    ])
    func malformedInputIsATypedError(input: String, kind: String) {
        do {
            _ = try parseAll(input)
            Issue.record("\(input.debugDescription) parsed")
        } catch {
            switch (error, kind) {
            case (.malformedLine, "malformed"), (.inconsistentCode, "inconsistent"): break
            default: Issue.record("\(input.debugDescription) gave \(error)")
            }
        }
    }

    @Test func overlongLineIsRefusedEvenWithoutALineEnd() {
        var parser = SMTPReplyParser(maximumLineLength: 512)
        var buffer = ByteBuffer(string: "250 " + String(repeating: "x", count: 600))
        #expect(throws: SMTPReplyParserError.lineTooLong(length: 604)) { try parser.parse(&buffer) }
    }

    @Test func endlessMultiLineReplyIsCut() {
        var parser = SMTPReplyParser(maximumLines: 10)
        var buffer = ByteBuffer(string: String(repeating: "250-more\r\n", count: 11))
        #expect(throws: SMTPReplyParserError.tooManyLines(10)) { while try parser.parse(&buffer) != nil {} }
    }

    /// Random bytes, random printable lines and mutated real replies: the parser must
    /// return or throw, consume input, and never trap. Bounded and seeded.
    @Test func randomInputNeverCrashesOrHangs() {
        var random = SplitMix64(seed: 0x5A17_0000_0003)
        let seeds = ["250-mx Hello\r\n250 PIPELINING\r\n", "550 5.1.1 unknown\r\n", "354 go\r\n", "421 4.3.2 bye\r\n"]
        for iteration in 0..<3000 {
            var bytes: [UInt8]
            switch iteration % 3 {
            case 0:
                bytes = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                let alphabet = Array("0123456789 -.\r\nabcXYZ".utf8)
                bytes = (0..<Int(random.next() % 200)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            default:
                bytes = Array(seeds[Int(random.next() % UInt64(seeds.count))].utf8)
                for _ in 0..<Int(random.next() % 4) where !bytes.isEmpty {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            var parser = SMTPReplyParser(maximumLineLength: 128, maximumLines: 8)
            var buffer = ByteBuffer(bytes: bytes)
            var rounds = 0
            do {
                while let reply = try parser.parse(&buffer) {
                    #expect((200...599).contains(reply.code))
                    rounds += 1
                    #expect(rounds <= bytes.count, "more replies than input bytes")
                    if rounds > bytes.count { break }
                }
                // Whatever is left is an incomplete line within the cap.
                #expect(buffer.readableBytes <= 128)
            } catch {
                _ = error.description
            }
        }
    }
}

/// A small seeded generator so the fuzz test is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
