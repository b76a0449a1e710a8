import Foundation

/// One place a template names a field: `{{first_name}}` on line 3 of a file.
public struct FieldReference: Hashable, Sendable {
    /// The field name (the first part of a dotted name, without transforms).
    public let name: String
    public let file: String
    public let line: Int
}

/// Finds the tags of a mustache template without rendering it: the field names it
/// reads and the partials it includes, each with its line. swift-mustache keeps its
/// parsed tokens private, so this small scanner walks the same syntax (delimiter
/// changes, comments, triple braces, transforms, sections, partials).
///
/// It also finds what swift-mustache would trip over, so the template is refused with
/// its file and line before mustache sees it: sections nested deeper than
/// `maxSectionDepth` (mustache parses one level per stack frame, and 20,000 levels
/// overflowed the stack), and a field name with a space (`{{First Name}}`), which
/// mustache cannot parse; the error names the field the import made of that column.
struct MustacheTagScanner {
    static let maxSectionDepth = 64

    struct Partial: Hashable {
        let name: String
        let line: Int
    }

    private(set) var fields: [FieldReference] = []
    private(set) var partials: [Partial] = []
    /// The first problem found; the template must not be handed to mustache.
    private(set) var problem: TemplateError?
    private var depth = 0

    init(_ source: TemplateSource) {
        let text = Array(source.text.utf8)
        var open: [UInt8] = Array("{{".utf8)
        var close: [UInt8] = Array("}}".utf8)
        var index = 0
        var line = 1

        func matches(_ pattern: [UInt8], at position: Int) -> Bool {
            guard position + pattern.count <= text.count else { return false }
            for offset in 0..<pattern.count where text[position + offset] != pattern[offset] { return false }
            return true
        }

        while index < text.count {
            if text[index] == 10 { line += 1 }
            guard matches(open, at: index) else {
                index += 1
                continue
            }
            let tagLine = line
            var start = index + open.count
            var tagClose = close
            if open == Array("{{".utf8), start < text.count, text[start] == UInt8(ascii: "{") {
                start += 1
                tagClose = Array("}}}".utf8)
            }
            var end = start
            while end < text.count, !matches(tagClose, at: end) {
                if text[end] == 10 { line += 1 }
                end += 1
            }
            let content = String(decoding: text[start..<min(end, text.count)], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            index = min(end + tagClose.count, text.count)
            guard let sigil = content.first else { continue }
            switch sigil {
            case "#", "^", "$", "<":
                depth += 1
                if depth > Self.maxSectionDepth, problem == nil {
                    problem = TemplateError(file: source.name, line: tagLine,
                                            kind: .syntax("sections nested more than \(Self.maxSectionDepth) deep"))
                }
            case "/":
                depth -= 1
            default:
                break
            }
            switch sigil {
            case "!", "/", "$":
                continue
            case "%":
                continue
            case "=":
                // {{=<% %>=}}
                let inner = content.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                let parts = inner.split(separator: " ", omittingEmptySubsequences: true)
                if parts.count == 2 {
                    open = Array(parts[0].utf8)
                    close = Array(parts[1].utf8)
                }
            case ">", "<":
                let name = content.dropFirst().trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("*") {
                    record(String(name.dropFirst()), source.name, tagLine)
                } else {
                    partials.append(Partial(name: name, line: tagLine))
                }
            case "#", "^", "&":
                record(String(content.dropFirst()).trimmingCharacters(in: .whitespaces), source.name, tagLine)
            default:
                record(content, source.name, tagLine)
            }
        }
    }

    private mutating func record(_ expression: String, _ file: String, _ line: Int) {
        if expression.contains(where: \.isWhitespace) {
            if problem == nil { problem = Self.spacedName(expression, file: file, line: line) }
            return
        }
        // transform(inner(name)) → name; a.b.c → a; "." is the current item.
        var name = Substring(expression)
        while let paren = name.firstIndex(of: "(") {
            name = name[name.index(after: paren)...]
        }
        name = name.prefix { $0 != ")" }
        guard let first = name.split(separator: ".").first, !name.hasPrefix(".") else { return }
        fields.append(FieldReference(name: String(first), file: file, line: line))
    }

    /// `{{First Name}}`: mustache takes no space in a name, and the import never makes a
    /// field of one, so say which field the column became.
    private static func spacedName(_ name: String, file: String, line: Int) -> TemplateError {
        let field = HeaderMapping.knownFields[HeaderMapping.key(name)] ?? HeaderMapping.normalised(name)
        return TemplateError(file: file, line: line, kind: .syntax(
            "'{{\(name)}}': a field name cannot hold a space; `salvo import` stores a column '\(name)' as \(field): write {{\(field)}}"))
    }
}
