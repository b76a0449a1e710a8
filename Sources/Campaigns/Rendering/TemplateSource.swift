import Foundation

/// The text of one template and where it came from, so errors can name the file.
public struct TemplateSource: Hashable, Sendable {
    /// A path, or a description such as `subject in campaigns/spring.yml`.
    public var name: String
    public var text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }

    /// Reads `path` as UTF-8.
    public static func file(_ path: String) throws(TemplateError) -> TemplateSource {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TemplateError(file: path, line: nil, kind: .unreadableFile)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TemplateError(file: path, line: nil, kind: .notUTF8)
        }
        return TemplateSource(name: path, text: text)
    }
}

/// A problem in a campaign's templates, with the file and line it is on.
public struct TemplateError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case unreadableFile
        case notUTF8
        /// The mustache parser's complaint.
        case syntax(String)
        /// `{{> name}}` with no `name.mustache` in the templates folder.
        case missingPartial(String)
        /// A field that is neither a list column nor a built-in.
        case unknownField(String)
        /// `{{unsubscribe_token}}` is used but no secret is configured.
        case missingUnsubscribeSecret
        /// `{{preferences_url}}` is used but the campaign has no preferences link (nor an
        /// unsubscribe link of `salvo serve`'s shape to derive it from).
        case missingPreferencesURL
        /// A recipient's field in a campaign whose message is shared (`to:`).
        case personalFieldInSharedMessage(String)
    }

    public let file: String
    /// 1-based; nil when the problem is the whole file.
    public let line: Int?
    public let kind: Kind

    public init(file: String, line: Int?, kind: Kind) {
        self.file = file
        self.line = line
        self.kind = kind
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        switch kind {
        case .unreadableFile: return "\(place): cannot read template file"
        case .notUTF8: return "\(place): template is not UTF-8"
        case .syntax(let reason): return "\(place): template syntax error: \(reason)"
        case .missingPartial(let name): return "\(place): partial '\(name)' not found (expected \(name).mustache in the templates folder)"
        case .unknownField(let name):
            return "\(place): unknown field '\(name)': not a column of the list nor a built-in (\(MessageTemplate.builtInFields.sorted().joined(separator: ", ")))"
        case .personalFieldInSharedMessage(let name):
            return "\(place): field '\(name)' differs from one recipient to the next, but the campaign's fixed `to:` sends one message to many (only \(MessageTemplate.sharedFields.sorted().joined(separator: ", ")) may be used)"
        case .missingPreferencesURL:
            return "\(place): uses {{preferences_url}} but the campaign has no preferences link (preferences: \"https://…/p/{{unsubscribe_token}}\", or an unsubscribe link ending in /u/{{unsubscribe_token}} to derive it from)"
        case .missingUnsubscribeSecret:
            return "\(place): uses {{unsubscribe_token}} but no unsubscribe secret is available (set the variable named by unsubscribe.secret_env, default SALVO_UNSUBSCRIBE_SECRET)"
        }
    }
}
