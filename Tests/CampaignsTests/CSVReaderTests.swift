@testable import Campaigns
import Foundation
import Testing

/// Reads `text` as a file and returns each outcome with its fields.
func readAll(_ text: String, maxFieldBytes: Int = CSVReader.defaultMaxFieldBytes, chunkSize: Int = 1 << 20) throws -> [(CSVReader.Outcome, [String])] {
    try readAll(bytes: Array(text.utf8), maxFieldBytes: maxFieldBytes, chunkSize: chunkSize)
}

func readAll(bytes: [UInt8], maxFieldBytes: Int = CSVReader.defaultMaxFieldBytes, chunkSize: Int = 1 << 20) throws -> [(CSVReader.Outcome, [String])] {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString).csv").path
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    defer { try? FileManager.default.removeItem(atPath: path) }
    var reader = try CSVReader(path: path, maxFieldBytes: maxFieldBytes, chunkSize: chunkSize)
    var result: [(CSVReader.Outcome, [String])] = []
    while let outcome = try reader.next() {
        var fields: [String] = []
        if case .record = outcome {
            for i in 0..<reader.fieldCount { fields.append(reader.withField(i) { String(decoding: $0, as: UTF8.self) }) }
        }
        result.append((outcome, fields))
    }
    return result
}

@Suite struct CSVReaderTests {
    @Test func readsQuotedFieldsWithCommasQuotesAndNewlines() throws {
        let rows = try readAll("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\nplain,,end\n")
        #expect(rows.count == 3)
        #expect(rows[1].1 == ["x, y", "say \"hi\"", "two\r\nlines"])
        #expect(rows[2].0 == .record(line: 4))
        #expect(rows[2].1 == ["plain", "", "end"])
    }

    @Test func skipsByteOrderMarkAndBlankLines() throws {
        let rows = try readAll("\u{FEFF}email\n\nann@example.com\n\n")
        #expect(rows.map(\.1) == [["email"], ["ann@example.com"]])
        #expect(rows[1].0 == .record(line: 3))
    }

    @Test func handlesLastLineWithoutNewlineAndLoneCR() throws {
        let rows = try readAll("a,b\rc,d\r\ne,f")
        #expect(rows.map(\.1) == [["a", "b"], ["c", "d"], ["e", "f"]])
    }

    @Test func recoversFromAnUnterminatedQuoteAndKeepsLaterRows() throws {
        let rows = try readAll("h1,h2\nok,1\n\"broken,2\nnext,3\nlast,4\n")
        #expect(rows[0].1 == ["h1", "h2"])
        #expect(rows[1].1 == ["ok", "1"])
        #expect(rows[2].0 == .malformed(line: 3, .unterminatedQuote))
        #expect(rows[3].0 == .record(line: 4))
        #expect(rows[3].1 == ["next", "3"])
        #expect(rows[4].1 == ["last", "4"])
    }

    @Test func reportsStrayQuotesNulBytesAndLongFields() throws {
        var bytes = Array("a,b\nx\"y,1\n\"q\"z,2\nnul".utf8)
        bytes += [0]
        bytes += Array(",3\nlong,".utf8) + Array(repeating: UInt8(ascii: "x"), count: 200) + Array("\ngood,5\n".utf8)
        let rows = try readAll(bytes: bytes, maxFieldBytes: 100)
        #expect(rows.map(\.0) == [
            .record(line: 1),
            .malformed(line: 2, .quoteInUnquotedField(field: 1)),
            .malformed(line: 3, .textAfterClosingQuote(field: 1)),
            .malformed(line: 4, .nulByte(field: 1)),
            .malformed(line: 5, .fieldTooLong(field: 2, limit: 100)),
            .record(line: 6),
        ])
        #expect(rows[5].1 == ["good", "5"])
    }

    @Test func recordsSpanningChunkBoundariesReadTheSame() throws {
        var text = "email,note\n"
        for i in 0..<200 { text += "user\(i)@example.com,\"note, \(i)\r\nsecond line\"\r\n" }
        let small = try readAll(text, chunkSize: 16)
        let large = try readAll(text)
        #expect(small.count == 201)
        #expect(small.map(\.1) == large.map(\.1))
        #expect(small.map(\.0) == large.map(\.0))
        #expect(small[200].0 == .record(line: 2 + 199 * 2))
    }
}
