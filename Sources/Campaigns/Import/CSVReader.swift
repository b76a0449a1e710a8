#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A streaming RFC 4180 reader that never lets one bad record cost the records after it.
///
/// It reads the file in chunks, so memory stays flat however long the list is, and hands
/// out one record at a time through reused storage (no allocation per field). Quoted
/// fields may hold commas, doubled quotes and line breaks; lines may end in CRLF or LF;
/// a UTF-8 byte order mark is skipped.
///
/// Recovery is what makes it fit for lists exported from spreadsheets and CRMs: a quoted
/// field that never closes would otherwise swallow the rest of the file. When a record
/// runs to the end of the file, or past `maxRecordBytes`, inside an open quote, the
/// reader reports that record's first line as malformed and starts again on the next
/// physical line, so every later record is still read.
public struct CSVReader: ~Copyable {
    /// Fields longer than this are reported rather than stored (an attribute is a name,
    /// a tag list or a date, never a megabyte).
    public static let defaultMaxFieldBytes = 64 * 1024
    /// A quoted record that has not closed after this many bytes is taken to be an
    /// unterminated quote.
    public static let defaultMaxRecordBytes = 4 * 1024 * 1024

    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        case unterminatedQuote
        case textAfterClosingQuote(field: Int)
        case quoteInUnquotedField(field: Int)
        case nulByte(field: Int)
        case fieldTooLong(field: Int, limit: Int)

        public var description: String {
            switch self {
            case .unterminatedQuote: "quoted field is never closed"
            case .textAfterClosingQuote(let f): "text after the closing quote of field \(f)"
            case .quoteInUnquotedField(let f): "quote character inside unquoted field \(f)"
            case .nulByte(let f): "NUL byte in field \(f)"
            case .fieldTooLong(let f, let limit): "field \(f) is longer than \(limit) bytes"
            }
        }
    }

    /// What `next()` found.
    public enum Outcome: Equatable {
        /// A well-formed record; read its fields with `fieldCount` and `withField`.
        case record(line: Int)
        /// A record that cannot be read; `line` is the line it starts on.
        case malformed(line: Int, Problem)
    }

    private let fd: Int32
    private let ownsDescriptor: Bool
    private let maxFieldBytes: Int
    private let maxRecordBytes: Int
    private let chunkSize: Int

    private var buffer: [UInt8]
    private var start = 0  // first byte of the record being read
    private var position = 0
    private var end = 0
    private var atEOF = false
    private var line = 1
    private var sawFirstChunk = false

    /// The current record's unescaped field bytes, back to back, and where each ends.
    private var storage: [UInt8] = []
    private var fieldEnds: [Int] = []

    /// Opens `path` for reading.
    public init(path: String,
                maxFieldBytes: Int = CSVReader.defaultMaxFieldBytes,
                maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes,
                chunkSize: Int = 1 << 20) throws(CSVReaderError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CSVReaderError(path: path, errno: errno) }
        self.init(descriptor: fd, ownsDescriptor: true, maxFieldBytes: maxFieldBytes,
                  maxRecordBytes: maxRecordBytes, chunkSize: chunkSize)
    }

    /// Reads from an open descriptor (a pipe works too); `ownsDescriptor` closes it at the end.
    public init(descriptor: Int32, ownsDescriptor: Bool,
                maxFieldBytes: Int = CSVReader.defaultMaxFieldBytes,
                maxRecordBytes: Int = CSVReader.defaultMaxRecordBytes,
                chunkSize: Int = 1 << 20) {
        self.fd = descriptor
        self.ownsDescriptor = ownsDescriptor
        self.maxFieldBytes = maxFieldBytes
        self.maxRecordBytes = maxRecordBytes
        self.chunkSize = max(chunkSize, 16)
        self.buffer = [UInt8](repeating: 0, count: self.chunkSize)
        storage.reserveCapacity(4096)
        fieldEnds.reserveCapacity(32)
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    public var fieldCount: Int { fieldEnds.count }

    /// Gives `body` the bytes of field `index` of the last record returned.
    public func withField<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let lower = index == 0 ? 0 : fieldEnds[index - 1]
        let upper = fieldEnds[index]
        return try storage.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[lower..<upper]))
        }
    }

    /// The field as a String, or nil when it is not valid UTF-8.
    public func field(_ index: Int) -> String? {
        withField(index) { String(validating: $0, as: UTF8.self) }
    }

    /// Reads the next record; nil at the end of the input. Blank lines are skipped.
    public mutating func next() throws(CSVReaderError) -> Outcome? {
        while true {
            guard let outcome = try readRecord() else { return nil }
            if case .record = outcome, fieldEnds.count == 1, fieldEnds[0] == 0 { continue }
            return outcome
        }
    }

    // MARK: - Scanning

    /// Makes at least one more byte available at `position`; false at end of input.
    private mutating func fill() throws(CSVReaderError) -> Bool {
        if position < end { return true }
        if atEOF { return false }
        if start > 0 {
            // Keep the record being read; drop everything before it.
            let kept = end - start
            if kept > 0 {
                buffer.withUnsafeMutableBufferPointer { b in
                    _ = memmove(b.baseAddress!, b.baseAddress! + start, kept)
                }
            }
            position -= start
            end = kept
            start = 0
        }
        if end == buffer.count {
            buffer.append(contentsOf: repeatElement(0, count: buffer.count))
        }
        let room = buffer.count - end
        let got = buffer.withUnsafeMutableBufferPointer { b in
            read(fd, b.baseAddress! + end, room)
        }
        if got < 0 { throw CSVReaderError(path: nil, errno: errno) }
        if got == 0 { atEOF = true; return false }
        end += got
        if !sawFirstChunk {
            sawFirstChunk = true
            if end >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
                position = 3; start = 3
            }
        }
        return true
    }

    private mutating func readRecord() throws(CSVReaderError) -> Outcome? {
        storage.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        start = position
        guard try fill() else { return nil }
        start = position
        let recordLine = line
        var problem: Problem?
        var fieldStored = 0  // bytes stored for the current field

        @inline(__always) func note(_ p: Problem) { if problem == nil { problem = p } }

        fieldLoop: while true {
            let field = fieldEnds.count + 1
            fieldStored = 0
            guard try fill() else {
                fieldEnds.append(storage.count)
                break fieldLoop
            }
            if buffer[position] == UInt8(ascii: "\"") {
                position += 1
                // Quoted field.
                quoted: while true {
                    guard try fill() else {
                        return restartAfterFirstLine(recordLine: recordLine, problem: .unterminatedQuote)
                    }
                    if position - start > maxRecordBytes {
                        return restartAfterFirstLine(recordLine: recordLine, problem: .unterminatedQuote)
                    }
                    let byte = buffer[position]
                    position += 1
                    switch byte {
                    case UInt8(ascii: "\""):
                        if try fill(), buffer[position] == UInt8(ascii: "\"") {
                            position += 1
                            append(UInt8(ascii: "\""), field: field, stored: &fieldStored, problem: &problem)
                            continue quoted
                        }
                        break quoted
                    case UInt8(ascii: "\n"):
                        line += 1
                        append(byte, field: field, stored: &fieldStored, problem: &problem)
                    case 0:
                        note(.nulByte(field: field))
                    default:
                        append(byte, field: field, stored: &fieldStored, problem: &problem)
                    }
                }
                fieldEnds.append(storage.count)
                guard try fill() else { break fieldLoop }
                switch buffer[position] {
                case UInt8(ascii: ","):
                    position += 1
                    continue fieldLoop
                case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    consumeLineEnd()
                    break fieldLoop
                default:
                    note(.textAfterClosingQuote(field: field))
                    try skipToLineEnd()
                    break fieldLoop
                }
            }
            // Unquoted field: scan a run of plain bytes at a time.
            while true {
                guard try fill() else {
                    fieldEnds.append(storage.count)
                    break fieldLoop
                }
                let runStart = position
                var stop: UInt8 = 0
                var stopped = false
                buffer.withUnsafeBufferPointer { b in
                    var i = position
                    while i < end {
                        let c = b[i]
                        if c == UInt8(ascii: ",") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r")
                            || c == UInt8(ascii: "\"") || c == 0 {
                            stop = c; stopped = true
                            break
                        }
                        i &+= 1
                    }
                    position = i
                }
                let run = position - runStart
                if run > 0 {
                    if fieldStored + run > maxFieldBytes {
                        note(.fieldTooLong(field: field, limit: maxFieldBytes))
                    } else {
                        storage.append(contentsOf: buffer[runStart..<position])
                        fieldStored += run
                    }
                }
                if !stopped { continue }
                switch stop {
                case UInt8(ascii: ","):
                    position += 1
                    fieldEnds.append(storage.count)
                    continue fieldLoop
                case UInt8(ascii: "\""):
                    note(.quoteInUnquotedField(field: field))
                    position += 1
                case 0:
                    note(.nulByte(field: field))
                    position += 1
                default:
                    fieldEnds.append(storage.count)
                    consumeLineEnd()
                    break fieldLoop
                }
            }
        }
        if let problem {
            // A bad record that spans lines most likely began with a stray quote that
            // paired with one on a later line: read those later lines again on their own.
            if line > recordLine + 1 { return restartAfterFirstLine(recordLine: recordLine, problem: problem) }
            return .malformed(line: recordLine, problem)
        }
        return .record(line: recordLine)
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8, field: Int, stored: inout Int, problem: inout Problem?) {
        if stored >= maxFieldBytes {
            if problem == nil { problem = .fieldTooLong(field: field, limit: maxFieldBytes) }
            return
        }
        storage.append(byte)
        stored += 1
    }

    /// Consumes "\r\n", "\n" or a lone "\r" at `position`.
    private mutating func consumeLineEnd() {
        let byte = buffer[position]
        position += 1
        line += 1
        if byte == UInt8(ascii: "\r") {
            // The "\n" of a CRLF may sit in the next chunk; a failed fill only means EOF.
            if (try? fill()) == true, buffer[position] == UInt8(ascii: "\n") { position += 1 }
        }
    }

    private mutating func skipToLineEnd() throws(CSVReaderError) {
        while try fill() {
            let byte = buffer[position]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                consumeLineEnd()
                return
            }
            position += 1
        }
    }

    /// Reports the record from `start` as malformed on its first line and resumes right
    /// after that line. The whole record is still in the buffer, so no seeking is needed.
    private mutating func restartAfterFirstLine(recordLine: Int, problem: Problem) -> Outcome {
        var i = start
        while i < end, buffer[i] != UInt8(ascii: "\n"), buffer[i] != UInt8(ascii: "\r") { i += 1 }
        position = i
        if position < end { consumeLineEnd() }
        line = recordLine + 1
        storage.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        return .malformed(line: recordLine, problem)
    }
}

/// The input itself could not be read.
public struct CSVReaderError: Error, CustomStringConvertible {
    public let path: String?
    public let errno: Int32

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "cannot read \(path): \(reason)" }
        return "cannot read the CSV input: \(reason)"
    }
}
