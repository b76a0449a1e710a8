import Foundation

/// A readable plain-text rendition of an HTML body, for campaigns written only in
/// HTML: block elements become line breaks, list items get a dash, links are kept as
/// `text (url)`, images as their alt text, and scripts, styles and the head are
/// dropped.
public struct PlainText: Sendable {
    public let text: String

    public init(html: String) {
        var converter = Converter(html)
        converter.run()
        self.text = converter.finish()
    }

    private struct Converter {
        let source: [UInt8]
        var index = 0
        var output: [UInt8] = []
        var pendingSpace = false
        var pendingNewlines = 0
        var skipUntil: [UInt8]? = nil
        var preformatted = 0
        var links: [(href: String, start: Int)] = []
        var listDepth = 0

        init(_ html: String) {
            self.source = Array(html.utf8)
            output.reserveCapacity(source.count / 2)
        }

        mutating func run() {
            while index < source.count {
                let byte = source[index]
                if byte == UInt8(ascii: "<") {
                    if startsWith("<!--") {
                        index = find("-->", from: index + 4).map { $0 + 3 } ?? source.count
                        continue
                    }
                    if let end = tagEnd(from: index + 1) {
                        let start = index + 1
                        index = end + 1
                        // `tag` may move `index` on, past a skipped element.
                        tag(source[start..<end])
                        continue
                    }
                }
                if byte == UInt8(ascii: "&") {
                    if let (decoded, length) = entity(at: index) {
                        emitText(Array(decoded.utf8))
                        index += length
                        continue
                    }
                }
                emitByte(byte)
                index += 1
            }
        }

        mutating func finish() -> String {
            while output.last == 10 || output.last == 32 { output.removeLast() }
            return String(decoding: output, as: UTF8.self)
        }

        func startsWith(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            guard index + bytes.count <= source.count else { return false }
            for (offset, byte) in bytes.enumerated() where lower(source[index + offset]) != byte { return false }
            return true
        }

        func find(_ text: String, from start: Int) -> Int? {
            let bytes = Array(text.utf8)
            guard bytes.count <= source.count else { return nil }
            var i = start
            while i + bytes.count <= source.count {
                var match = true
                for (offset, byte) in bytes.enumerated() where lower(source[i + offset]) != byte {
                    match = false
                    break
                }
                if match { return i }
                i += 1
            }
            return nil
        }

        func tagEnd(from start: Int) -> Int? {
            var quote: UInt8? = nil
            var i = start
            guard i < source.count else { return nil }
            let first = source[i]
            guard (first >= 65 && first <= 90) || (first >= 97 && first <= 122) || first == UInt8(ascii: "/") || first == UInt8(ascii: "!") else { return nil }
            while i < source.count {
                let byte = source[i]
                if let q = quote {
                    if byte == q { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    return i
                }
                i += 1
            }
            return nil
        }

        func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }

        mutating func tag(_ content: ArraySlice<UInt8>) {
            var bytes = content[...]
            let closing = bytes.first == UInt8(ascii: "/")
            if closing { bytes = bytes.dropFirst() }
            let nameBytes = bytes.prefix { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }
            let name = String(decoding: nameBytes.map(lower), as: UTF8.self)
            let attributes = bytes.dropFirst(nameBytes.count)
            switch name {
            case "head", "script", "style", "title":
                if !closing {
                    // Skip everything up to the matching close tag.
                    if let end = find("</\(name)", from: index) {
                        index = (source[end...].firstIndex(of: UInt8(ascii: ">")) ?? source.count - 1) + 1
                    } else {
                        index = source.count
                    }
                }
            case "br":
                newline(1, force: true)
            case "p", "div", "table", "blockquote", "section", "article", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "center":
                newline(2)
                if name == "ul" || name == "ol" { listDepth += closing ? -1 : 1 }
            case "tr", "dt", "dd":
                newline(1)
            case "td", "th":
                if closing { pendingSpace = true }
            case "li":
                newline(1)
                if !closing {
                    emitRaw(Array(String(repeating: "  ", count: max(listDepth - 1, 0)).utf8) + Array("- ".utf8))
                }
            case "hr":
                newline(1)
                emitRaw(Array("----------------------------------------".utf8))
                newline(1)
            case "pre":
                newline(2)
                preformatted += closing ? -1 : 1
            case "a":
                if closing {
                    if let link = links.popLast() {
                        let text = String(decoding: output[min(link.start, output.count)...], as: UTF8.self).trimmingASCIIWhitespace()
                        let href = link.href
                        let bare = href.hasPrefix("mailto:") ? String(href.dropFirst(7)) : href
                        if !href.isEmpty, !href.hasPrefix("#"), text != href, text != bare {
                            emitText(Array(" (\(href))".utf8))
                        } else if text.isEmpty, !href.isEmpty {
                            emitText(Array(href.utf8))
                        }
                    }
                } else {
                    let href = attribute("href", in: attributes) ?? ""
                    if pendingSpace, !output.isEmpty, pendingNewlines == 0 {
                        output.append(32)
                        pendingSpace = false
                    }
                    flushNewlines()
                    links.append((href: href, start: output.count))
                }
            case "img":
                if let alt = attribute("alt", in: attributes), !alt.isEmpty {
                    emitText(Array("[\(alt)]".utf8))
                }
            default:
                break
            }
        }

        func attribute(_ name: String, in bytes: ArraySlice<UInt8>) -> String? {
            let text = String(decoding: bytes, as: UTF8.self)
            var rest = Substring(text)
            while let range = rest.range(of: name, options: .caseInsensitive) {
                let before = range.lowerBound == rest.startIndex ? " " : rest[rest.index(before: range.lowerBound)]
                var after = rest[range.upperBound...].drop { $0 == " " }
                rest = rest[range.upperBound...]
                guard before == " " || before == "\t" || before == "\n", after.first == "=" else { continue }
                after = after.dropFirst().drop { $0 == " " }
                let value: Substring
                if let quote = after.first, quote == "\"" || quote == "'" {
                    value = after.dropFirst().prefix { $0 != quote }
                } else {
                    value = after.prefix { $0 != " " && $0 != ">" && $0 != "/" }
                }
                return Self.decodeEntities(String(value)).trimmingASCIIWhitespace()
            }
            return nil
        }

        static func decodeEntities(_ text: String) -> String {
            guard text.contains("&") else { return text }
            var converter = Converter(text)
            converter.preformatted = 1
            converter.run()
            return String(decoding: converter.output, as: UTF8.self)
        }

        func entity(at start: Int) -> (String, Int)? {
            var end = start + 1
            while end < source.count, end - start < 12, source[end] != UInt8(ascii: ";") { end += 1 }
            guard end < source.count, source[end] == UInt8(ascii: ";") else { return nil }
            let name = String(decoding: source[(start + 1)..<end], as: UTF8.self)
            let length = end - start + 1
            if name.hasPrefix("#") {
                let digits = name.dropFirst()
                let value = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
                guard let value, let scalar = Unicode.Scalar(value) else { return nil }
                return (String(Character(scalar)), length)
            }
            let named: [String: String] = [
                "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "copy": "©", "reg": "®",
                "trade": "™", "hellip": "…", "mdash": "—", "ndash": "–", "laquo": "«", "raquo": "»", "euro": "€",
                "pound": "£", "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”", "bull": "•", "middot": "·",
            ]
            guard let decoded = named[name] else { return nil }
            return (decoded, length)
        }

        mutating func newline(_ count: Int, force: Bool = false) {
            if force {
                output.append(10)
                pendingSpace = false
                return
            }
            if !output.isEmpty { pendingNewlines = max(pendingNewlines, count) }
            pendingSpace = false
        }

        mutating func flushNewlines() {
            guard pendingNewlines > 0 else { return }
            while output.last == 32 { output.removeLast() }
            var existing = 0
            var i = output.count - 1
            while i >= 0, output[i] == 10, existing < pendingNewlines {
                existing += 1
                i -= 1
            }
            for _ in existing..<pendingNewlines { output.append(10) }
            pendingNewlines = 0
        }

        mutating func emitRaw(_ bytes: [UInt8]) {
            flushNewlines()
            output.append(contentsOf: bytes)
        }

        mutating func emitText(_ bytes: [UInt8]) {
            for byte in bytes { emitByte(byte, decoded: true) }
        }

        mutating func emitByte(_ byte: UInt8, decoded: Bool = false) {
            if preformatted > 0 {
                flushNewlines()
                output.append(byte == 13 ? 10 : byte)
                return
            }
            if byte == 32 || byte == 9 || byte == 10 || byte == 13 {
                if !output.isEmpty, output.last != 10 || pendingNewlines > 0 { pendingSpace = true }
                return
            }
            if pendingNewlines > 0 {
                flushNewlines()
                pendingSpace = false
            } else if pendingSpace {
                if output.last != 10, !output.isEmpty { output.append(32) }
                pendingSpace = false
            }
            output.append(byte)
        }
    }
}
