import Foundation

/// The links of a rendered HTML part, and that part with them rewritten: what click
/// tracking does to a message, and what `salvo serve` does again to find a tracked
/// link's target. Pure text work, so both sides find the same links in the same order.
///
/// A link is the `href` of an `<a>` or `<area>` tag whose value (entities decoded)
/// starts with `http://` or `https://`. A tag carrying `data-notrack` is left alone, and
/// so is every target `keep` says to keep (the unsubscribe and preferences links).
public enum LinkTracking {
    /// One trackable link: where its `href` value sits in the HTML's UTF-8, and its
    /// target with entities decoded.
    public struct Link: Equatable, Sendable {
        public var valueRange: Range<Int>
        public var target: String
    }

    /// The trackable links of `html`, in order: their positions are the positions the
    /// tokens carry.
    public static func links(in html: String, keep: (String) -> Bool = { _ in false }) -> [Link] {
        var links: [Link] = []
        scanTags(Array(html.utf8)) { tag in
            guard !tag.attributes.contains(where: { $0.name == "data-notrack" }),
                  let href = tag.attributes.first(where: { $0.name == "href" }), let range = href.valueRange
            else { return }
            let target = decodeEntities(href.value).trimmingCharacters(in: .whitespaces)
            let lower = target.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), !keep(target) else { return }
            links.append(Link(valueRange: range, target: target))
        }
        return links
    }

    /// `html` with each link's `href` value replaced by `replacement(position, target)`
    /// (which must need no HTML escaping: a URL of base64url tokens does not).
    public static func rewrite(_ html: String, links: [Link], replacement: (Int, String) -> String) -> String {
        guard !links.isEmpty else { return html }
        let bytes = Array(html.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + links.count * 64)
        var cursor = 0
        for (position, link) in links.enumerated() {
            out += bytes[cursor..<link.valueRange.lowerBound]
            out += Array(replacement(position, link.target).utf8)
            cursor = link.valueRange.upperBound
        }
        out += bytes[cursor...]
        return String(decoding: out, as: UTF8.self)
    }

    /// `html` with a 1×1 image of `source` before its last `</body>` (at its end when it
    /// has none).
    public static func appendingPixel(to html: String, source: String) -> String {
        let image = "<img src=\"\(source)\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">"
        if let body = html.range(of: "</body>", options: [.caseInsensitive, .backwards]) {
            return html.replacingCharacters(in: body.lowerBound..<body.lowerBound, with: image)
        }
        return html + image
    }

    /// A template's HTML source with `data-notrack` added to every `<a>` or `<area>`
    /// whose `href` is a raw field (`{{{url}}}` or `{{& url}}`): the author put a whole
    /// URL there as it is, and asked for it untouched. Only spaces are added, no line, so
    /// the template's error lines stay right.
    public static func markingRawLinks(in source: String) -> String {
        let bytes = Array(source.utf8)
        var inserts: [Int] = []
        scanTags(bytes) { tag in
            guard let href = tag.attributes.first(where: { $0.name == "href" }),
                  !tag.attributes.contains(where: { $0.name == "data-notrack" })
            else { return }
            let value = href.value.trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("{{{") || value.hasPrefix("{{&") { inserts.append(tag.nameEnd) }
        }
        guard !inserts.isEmpty else { return source }
        var out: [UInt8] = []
        var cursor = 0
        for insert in inserts {
            out += bytes[cursor..<insert]
            out += Array(" data-notrack".utf8)
            cursor = insert
        }
        out += bytes[cursor...]
        return String(decoding: out, as: UTF8.self)
    }

    /// `target` as a `Location` header may carry it: every byte that is not printable
    /// ASCII or not allowed in a URL (space, quotes, angle brackets, a line break: a
    /// link's text is the author's) percent-encoded, an existing `%XX` kept.
    public static func locationValue(_ target: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(target.utf8.count)
        for byte in target.utf8 {
            switch byte {
            case 0x21...0x7E where !"\"<>\\^`{|}".utf8.contains(byte): out.append(byte)
            default: out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: The scanner

    struct Attribute {
        var name: String
        var value: String
        /// Where the value sits (inside its quotes); nil for an attribute without one.
        var valueRange: Range<Int>?
    }

    struct Tag {
        /// Where the tag's name ends: where an attribute can be inserted.
        var nameEnd: Int
        var attributes: [Attribute]
    }

    /// Calls `visit` for every `<a …>` and `<area …>` start tag, skipping comments.
    static func scanTags(_ bytes: [UInt8], visit: (Tag) -> Void) {
        let count = bytes.count
        var i = 0
        func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C }
        while i < count {
            guard bytes[i] == UInt8(ascii: "<") else { i += 1; continue }
            // <!-- … -->
            if i + 3 < count, bytes[i + 1] == UInt8(ascii: "!"), bytes[i + 2] == UInt8(ascii: "-"), bytes[i + 3] == UInt8(ascii: "-") {
                var j = i + 4
                while j + 2 < count, !(bytes[j] == UInt8(ascii: "-") && bytes[j + 1] == UInt8(ascii: "-") && bytes[j + 2] == UInt8(ascii: ">")) { j += 1 }
                i = j + 3
                continue
            }
            var j = i + 1
            while j < count, (lower(bytes[j]) >= 97 && lower(bytes[j]) <= 122) || (bytes[j] >= 48 && bytes[j] <= 57) { j += 1 }
            let name = String(decoding: bytes[(i + 1)..<j].map(lower), as: UTF8.self)
            guard name == "a" || name == "area", j < count, isSpace(bytes[j]) || bytes[j] == UInt8(ascii: ">") || bytes[j] == UInt8(ascii: "/") else {
                i = j
                continue
            }
            var tag = Tag(nameEnd: j, attributes: [])
            // Attributes until the closing '>'.
            while j < count, bytes[j] != UInt8(ascii: ">") {
                if isSpace(bytes[j]) || bytes[j] == UInt8(ascii: "/") { j += 1; continue }
                let nameStart = j
                while j < count, !isSpace(bytes[j]), bytes[j] != UInt8(ascii: "="), bytes[j] != UInt8(ascii: ">"), bytes[j] != UInt8(ascii: "/") { j += 1 }
                let attributeName = String(decoding: bytes[nameStart..<j].map(lower), as: UTF8.self)
                var k = j
                while k < count, isSpace(bytes[k]) { k += 1 }
                guard k < count, bytes[k] == UInt8(ascii: "=") else {
                    tag.attributes.append(Attribute(name: attributeName, value: "", valueRange: nil))
                    continue
                }
                k += 1
                while k < count, isSpace(bytes[k]) { k += 1 }
                guard k < count else { j = k; break }
                let valueStart: Int, valueEnd: Int
                if bytes[k] == UInt8(ascii: "\"") || bytes[k] == UInt8(ascii: "'") {
                    let quote = bytes[k]
                    var m = k + 1
                    while m < count, bytes[m] != quote { m += 1 }
                    valueStart = k + 1
                    valueEnd = m
                    j = min(m + 1, count)
                } else {
                    var m = k
                    while m < count, !isSpace(bytes[m]), bytes[m] != UInt8(ascii: ">") { m += 1 }
                    valueStart = k
                    valueEnd = m
                    j = m
                }
                tag.attributes.append(Attribute(name: attributeName, value: String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self),
                                                valueRange: valueStart..<valueEnd))
            }
            visit(tag)
            i = j + 1
        }
    }

    /// The entities a rendered URL holds: those mustache's HTML escaping writes, and
    /// numeric ones.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[amp...]
            guard let semicolon = after.firstIndex(of: ";"), after.distance(from: amp, to: semicolon) <= 10 else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            let entity = String(after[after.index(after: amp)..<semicolon])
            var decoded: String?
            switch entity {
            case "amp": decoded = "&"
            case "quot": decoded = "\""
            case "apos": decoded = "'"
            case "lt": decoded = "<"
            case "gt": decoded = ">"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    decoded = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else if entity.hasPrefix("#") {
                    decoded = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                }
            }
            if let decoded {
                out += decoded
                rest = rest[rest.index(after: semicolon)...]
            } else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
            }
        }
        return out + rest
    }
}
