import Foundation

/// A Content-Type value (RFC 2045 §5.1): `type/subtype; name=value; name="quoted value"`.
/// Type, subtype and parameter names are lower-cased; values keep their case (a
/// boundary is case-sensitive).
public struct ContentType: Sendable, Equatable {
    public var type: String
    public var subtype: String
    public var parameters: [String: String]

    public var mimeType: String { "\(type)/\(subtype)" }

    /// RFC 2045 §5.2: a part without a Content-Type is text/plain, except inside
    /// multipart/digest, where it is message/rfc822.
    public static let plainText = ContentType(type: "text", subtype: "plain", parameters: [:])

    public init(type: String, subtype: String, parameters: [String: String]) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// Nil when the value has no `type/subtype`.
    public init?(parsing value: String) {
        let pieces = Self.split(value)
        guard let first = pieces.first else { return nil }
        let slash = first.split(separator: "/", maxSplits: 1)
        guard slash.count == 2 else { return nil }
        type = slash[0].trimmingCharacters(in: .whitespaces).lowercased()
        subtype = slash[1].trimmingCharacters(in: .whitespaces).lowercased()
        guard !type.isEmpty, !subtype.isEmpty else { return nil }
        var parameters: [String: String] = [:]
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            let name = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = Self.unquote(value.dropFirst().dropLast())
            }
            if !name.isEmpty, parameters[name] == nil { parameters[name] = value }
        }
        self.parameters = parameters
    }

    /// Splits at semicolons outside quoted strings; drops a trailing comment-free empty piece.
    private static func split(_ value: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var quoted = false, escaped = false
        for character in value {
            if escaped { current.append(character); escaped = false; continue }
            if quoted, character == "\\" { current.append(character); escaped = true; continue }
            if character == "\"" { quoted.toggle() }
            if character == ";", !quoted {
                pieces.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        pieces.append(current)
        return pieces.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private static func unquote(_ text: Substring) -> String {
        var result = ""
        var escaped = false
        for character in text {
            if escaped { result.append(character); escaped = false }
            else if character == "\\" { escaped = true }
            else { result.append(character) }
        }
        return result
    }
}
