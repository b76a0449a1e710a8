import Foundation
import Yams

/// A node of a YAML file with the path that leads to it, so every error can name the
/// file, the line and the key (`salvo.yml:14: limits.default.rate: ...`).
public struct YAMLValue {
    public let node: Node
    public let key: String
    public let file: String

    /// Parses a whole file; the root must be a mapping.
    public static func load(path: String) throws -> YAMLValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, line: nil, key: nil, message: "cannot read the file: \((error as NSError).localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> YAMLValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, line: Self.line(of: error), key: nil, message: "not valid YAML: \(Self.summary(of: error))")
        }
        return YAMLValue(node: node ?? Node.mapping(Node.Mapping([])), key: "", file: file)
    }

    public var line: Int? { node.mark?.line }

    /// A single value (text, number, true/false), not a mapping or a list.
    public var isScalar: Bool {
        if case .scalar = node { return true }
        return false
    }

    public func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line, key: key.isEmpty ? nil : key, message: message)
    }

    /// The mapping's entries; a key outside `known` is an error (it is usually a typo
    /// that would otherwise be ignored silently).
    public func mapping(known: [String]) throws -> [String: YAMLValue] {
        guard let mapping = node.mapping else { throw error("expected a mapping of keys to values") }
        var result: [String: YAMLValue] = [:]
        for (keyNode, valueNode) in mapping {
            guard let name = keyNode.string else { throw error("keys must be strings") }
            let child = YAMLValue(node: valueNode, key: key.isEmpty ? name : "\(key).\(name)", file: file)
            if !known.isEmpty, !known.contains(name) {
                throw ConfigurationError(file: file, line: keyNode.mark?.line, key: child.key,
                                         message: "unknown key (expected one of: \(known.joined(separator: ", ")))")
            }
            result[name] = child
        }
        return result
    }

    /// A mapping whose keys are data (domains, patterns), not fixed names.
    public func entries() throws -> [(String, YAMLValue)] {
        guard let mapping = node.mapping else { throw error("expected a mapping") }
        return try mapping.map { keyNode, valueNode in
            guard let name = keyNode.string else { throw error("keys must be strings") }
            return (name, YAMLValue(node: valueNode, key: "\(key).\(name)", file: file))
        }
    }

    public func string() throws -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a text value") }
        return scalar.string
    }

    public func nonEmptyString() throws -> String {
        let text = try string()
        if text.trimmingCharacters(in: .whitespaces).isEmpty { throw error("must not be empty") }
        return text
    }

    public func int(min: Int = Int.min) throws -> Int {
        guard case .scalar = node, let value = node.int else { throw error("expected a whole number, found '\(node.string ?? "?")'") }
        if value < min { throw error("must be at least \(min)") }
        return value
    }

    public func bool() throws -> Bool {
        guard case .scalar = node, let value = node.bool else { throw error("expected true or false, found '\(node.string ?? "?")'") }
        return value
    }

    public func oneOf(_ choices: [String]) throws -> String {
        let text = try string()
        guard choices.contains(text) else { throw error("expected one of \(choices.joined(separator: " | ")), found '\(text)'") }
        return text
    }

    public func array() throws -> [YAMLValue] {
        if case .scalar = node { return [self] }  // a single value where a list is allowed
        guard case .sequence(let sequence) = node else { throw error("expected a list") }
        return sequence.enumerated().map { YAMLValue(node: $1, key: "\(key)[\($0)]", file: file) }
    }

    /// A path relative to the folder of the YAML file that names it.
    public func path() throws -> String {
        let text = try nonEmptyString()
        if text.hasPrefix("/") { return text }
        let folder = (file as NSString).deletingLastPathComponent
        return folder.isEmpty ? text : (folder as NSString).appendingPathComponent(text)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return nil
        }
    }

    private static func summary(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            return problem
        default:
            return "\(error)"
        }
    }
}

/// A problem in a configuration or campaign file, naming where it is.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int?
    public let key: String?
    public let message: String

    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + message
    }
}
