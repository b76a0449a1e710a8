@testable import Campaigns
import Testing

/// salvo.yml text as the tests write it, read as if from /etc/salvo/salvo.yml.
enum ConfigurationText {
    static func load(_ text: String) throws -> SalvoConfiguration {
        try SalvoConfiguration(yaml: YAMLValue.parse(text, file: "/etc/salvo/salvo.yml"))
    }

    /// `text` is refused with an error that starts with `expected` (file, line, key, why).
    static func expectRefused(_ text: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try load(text)
            Issue.record("accepted: \(text)", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".hasPrefix(expected), "\(error)", sourceLocation: sourceLocation)
        }
    }
}
