/// A template made only of text and plain field tags (`{{first_name}}`, `{{{url}}}`,
/// `{{& url}}`), compiled once into literal and field pieces.
///
/// Most campaign templates are exactly that, and rendering them is what `salvo send` does
/// for every recipient: walking swift-mustache's context stack with dynamic casts cost
/// more than composing the rest of the message. A template with anything else (sections,
/// comments, partials, delimiter changes, dotted names, transforms) is not compiled and
/// is rendered by swift-mustache, so the two always agree on what a template means.
struct FieldTemplate: Sendable {
    private enum Piece: Sendable {
        case text(String)
        /// A field's value; escaped for HTML when the template is HTML and the tag is
        /// a double-brace one.
        case field(String, escaped: Bool)
    }

    private let pieces: [Piece]
    private let literalLength: Int

    /// Compiles `text`, or returns nil when it uses more than plain field tags.
    /// `html` says whether double-brace tags escape their value, as mustache's HTML
    /// content type does.
    init?(_ text: String, html: Bool) {
        let bytes = Array(text.utf8)
        var pieces: [Piece] = []
        var literalStart = 0
        var index = 0
        var literalLength = 0

        func isOpen(_ at: Int) -> Bool { at + 1 < bytes.count && bytes[at] == UInt8(ascii: "{") && bytes[at + 1] == UInt8(ascii: "{") }
        func find(_ pattern: [UInt8], from start: Int) -> Int? {
            var at = start
            while at + pattern.count <= bytes.count {
                if bytes[at] == pattern[0], Array(bytes[at..<(at + pattern.count)]) == pattern { return at }
                at += 1
            }
            return nil
        }

        while index < bytes.count {
            guard isOpen(index) else {
                index += 1
                continue
            }
            if index > literalStart {
                pieces.append(.text(String(decoding: bytes[literalStart..<index], as: UTF8.self)))
                literalLength += index - literalStart
            }
            var nameStart = index + 2
            let close: [UInt8]
            var escaped = html
            if nameStart < bytes.count, bytes[nameStart] == UInt8(ascii: "{") {
                nameStart += 1
                close = Array("}}}".utf8)
                escaped = false
            } else {
                close = Array("}}".utf8)
            }
            guard let end = find(close, from: nameStart) else { return nil }
            var name = String(decoding: bytes[nameStart..<end], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if close.count == 2, name.hasPrefix("&") {
                name = String(name.dropFirst()).trimmingCharacters(in: .whitespaces)
                escaped = false
            }
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isNameByte) else { return nil }
            pieces.append(.field(name, escaped: escaped))
            index = end + close.count
            literalStart = index
        }
        if literalStart < bytes.count {
            var end = bytes.count
            // swift-mustache drops a last line of nothing but spaces and tabs (it reads a
            // line's indentation ahead of a possible standalone tag and finds none).
            var blank = end
            while blank > literalStart, bytes[blank - 1] == UInt8(ascii: " ") || bytes[blank - 1] == UInt8(ascii: "\t") { blank -= 1 }
            if blank < end, blank == 0 || (blank > literalStart && bytes[blank - 1] == UInt8(ascii: "\n")) { end = blank }
            if end > literalStart {
                pieces.append(.text(String(decoding: bytes[literalStart..<end], as: UTF8.self)))
                literalLength += end - literalStart
            }
        }
        self.pieces = pieces
        self.literalLength = literalLength
    }

    /// The template with each field replaced by its value in `values` (empty when
    /// missing).
    func render(_ values: [String: String]) -> String {
        var output = ""
        output.reserveCapacity(literalLength + 64)
        for piece in pieces {
            switch piece {
            case .text(let text):
                output += text
            case .field(let name, let escaped):
                guard let value = values[name] else { continue }
                if escaped { Self.appendEscaped(value, to: &output) } else { output += value }
            }
        }
        return output
    }

    /// Letters, digits, `_` and `-`: a name mustache looks up as it is (a dot would
    /// walk into a value, a parenthesis apply a transform).
    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// The five characters mustache's HTML content type escapes, escaped the same way.
    private static func appendEscaped(_ value: String, to output: inout String) {
        let utf8 = value.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") }) else {
            output += value
            return
        }
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            let replacement: String? = switch utf8[index] {
            case UInt8(ascii: "<"): "&lt;"
            case UInt8(ascii: ">"): "&gt;"
            case UInt8(ascii: "&"): "&amp;"
            case UInt8(ascii: "\""): "&quot;"
            case UInt8(ascii: "'"): "&#39;"
            default: nil
            }
            if let replacement {
                output += String(value[start..<index])
                output += replacement
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        output += String(value[start...])
    }
}
