import Testing
@testable import MailMessage

/// Decodes a header value's RFC 2047 B encoded-words (as written by Salvo), joining
/// adjacent ones, to check that what is written reads back as the original.
func decodeEncodedWords(_ value: String) -> String {
    let unfolded = value.replacingOccurrences(of: "\r\n", with: "")
    var bytes: [UInt8] = []
    var result = ""
    var rest = Substring(unfolded).drop { $0 == " " }
    var previousWasEncoded = false
    while !rest.isEmpty {
        let wordEnd = rest.firstIndex(of: " ") ?? rest.endIndex
        let word = rest[..<wordEnd]
        let spaces = rest[wordEnd...].prefix { $0 == " " }
        if word.hasPrefix("=?UTF-8?B?"), word.hasSuffix("?=") {
            bytes += Base64.decode(word.dropFirst(10).dropLast(2)) ?? []
            previousWasEncoded = true
        } else {
            if !bytes.isEmpty { result += String(decoding: bytes, as: UTF8.self); bytes = [] }
            if previousWasEncoded { result += " " }
            result += word
            previousWasEncoded = false
        }
        rest = rest[wordEnd...].dropFirst(spaces.count)
        if !previousWasEncoded, !rest.isEmpty { result += spaces }
    }
    if !bytes.isEmpty { result += String(decoding: bytes, as: UTF8.self) }
    return result
}

@Suite struct HeaderFolderTests {
    func subject(_ text: String) -> String {
        var folder = HeaderFolder(name: "Subject")
        folder.appendUnstructured(text)
        return folder.value
    }

    func checkLines(_ name: String, _ value: String) {
        let whole = name + ":" + value
        for line in whole.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 78, "line too long: \(line)")
        }
        #expect(!whole.contains("\r\n\r\n"))
        for (index, line) in whole.components(separatedBy: "\r\n").enumerated() where index > 0 {
            #expect(line.hasPrefix(" "), "continuation without leading whitespace: \(line)")
        }
    }

    @Test func foldsLongASCIISubjectsAtSpaces() {
        let text = String(repeating: "Spring deals on fresh produce, ", count: 8) + "today only"
        let value = subject(text)
        checkLines("Subject", value)
        #expect(value.contains("\r\n "))
        #expect(String(value.replacingOccurrences(of: "\r\n", with: "").dropFirst()) == text)
    }

    @Test func encodesNonASCIIAsEncodedWordsThatDecodeBack() {
        let texts = [
            "Zoë, vos offres de printemps — jusqu’à -30 %",
            String(repeating: "Привет, весенние скидки! ", count: 6),
            "🌸🌷 Spring 春のセール 👩‍👩‍👧‍👦 family deals",
            "=?UTF-8?B?Zm9v?= looks encoded but is not",
            String(repeating: "x", count: 200),
        ]
        for text in texts {
            let value = subject(text)
            checkLines("Subject", value)
            for word in value.split(whereSeparator: { $0 == " " || $0 == "\r\n" }) where word.hasPrefix("=?") {
                #expect(word.utf8.count <= HeaderFolder.maxEncodedWordLength)
            }
            #expect(decodeEncodedWords(value) == text)
        }
    }

    @Test func controlCharactersBecomeSpaces() {
        let value = subject("Ann\r\nBcc: victim@example.org\u{0}\u{7F}\u{85}\u{2028}")
        #expect(!value.contains("\r\n"))
        #expect(!value.contains("\n"))
        #expect(!value.contains("\r"))
    }

    @Test func quotesASCIIDisplayNames() {
        var folder = HeaderFolder(name: "From")
        folder.appendPhrase("Shop \"Best\" \\ Co, Ltd.")
        #expect(folder.value == " \"Shop \\\"Best\\\" \\\\ Co, Ltd.\"")
    }
}

import Foundation
