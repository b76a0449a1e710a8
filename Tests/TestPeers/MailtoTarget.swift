import Foundation

/// The mailto target of a message's List-Unsubscribe, read as a mail client reads it:
/// the address, and the subject percent-decoded (RFC 6068). This is what a recipient's
/// client sends when they choose "unsubscribe".
public struct MailtoTarget: Sendable, Equatable {
    public var address: String
    public var subject: String

    public init(address: String, subject: String) {
        self.address = address
        self.subject = subject
    }

    /// Nil when the message has no List-Unsubscribe with a mailto URI. Takes CRLF or LF
    /// line ends (smtp-sink writes LF) and a folded header.
    public init?(message: [UInt8]) {
        let text = String(decoding: message, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        let headers = text.components(separatedBy: "\n\n")[0]
            .replacingOccurrences(of: "\n ", with: " ").replacingOccurrences(of: "\n\t", with: " ")
        guard let field = headers.split(separator: "\n").first(where: { $0.lowercased().hasPrefix("list-unsubscribe:") }),
              let start = field.range(of: "<mailto:")
        else { return nil }
        let uri = String(field[field.index(after: start.lowerBound)...].prefix { $0 != ">" })
        guard let components = URLComponents(string: uri),
              let subject = components.queryItems?.first(where: { $0.name.lowercased() == "subject" })?.value
        else { return nil }
        address = components.path
        self.subject = subject
    }

    /// The same target with one character of the subject's token (in its sealed part,
    /// ten from the end) changed, as a forger or a broken relay would.
    public func tampered() -> MailtoTarget {
        var characters = Array(subject)
        let index = characters.count - 10
        characters[index] = characters[index] == "A" ? "B" : "A"
        return MailtoTarget(address: address, subject: String(characters))
    }

    /// The mail a client writes for this target, From `from`.
    public func reply(from: String, messageID: String) -> String {
        "From: \(from)\nTo: \(address)\nSubject: \(subject)\nDate: Wed, 02 Dec 2026 00:00:00 +0000\n"
            + "Message-ID: <\(messageID)>\n\nPlease take me off this list.\n"
    }
}
