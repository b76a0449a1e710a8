import Foundation
import MailMessage

/// One recipient's message as `salvo preview` shows it: the exact bytes, and what a
/// person reads — the effective From, Reply-To and List-Unsubscribe, the subject, the
/// text part decoded (generated from the HTML when the campaign has none) and the HTML
/// part as a page.
public struct MessagePreview: Sendable {
    /// Signed, as `salvo send` would send them.
    public let bytes: [UInt8]
    public let from: String
    public let replyTo: String?
    public let to: String
    public let subject: String
    /// The List-Unsubscribe field's value, unfolded (nil when the campaign has none).
    public let listUnsubscribe: String?
    public let listUnsubscribePost: String?
    public let text: String
    public let html: String?

    public init(composer: MessageComposer, recipient: TemplateRecipient, date: Date,
                using generator: inout some RandomNumberGenerator) throws {
        let message = try composer.message(for: recipient, date: date, using: &generator)
        let serialized = try message.serialized()
        bytes = try MessageComposer.wireBytes(message, signers: composer.signers, at: date)
        func unfolded(_ name: String) -> String? {
            serialized.header(name).map { $0.value.replacingOccurrences(of: "\r\n", with: "").trimmingCharacters(in: .whitespaces) }
        }
        from = message.from.description
        replyTo = message.replyTo?.description
        to = message.to.description
        subject = message.subject
        listUnsubscribe = unfolded("List-Unsubscribe")
        listUnsubscribePost = unfolded("List-Unsubscribe-Post")
        text = message.text ?? message.html.map { PlainText(html: $0).text } ?? ""
        html = message.html
    }

    /// From, Reply-To (or that replies go to From) and List-Unsubscribe, one per line.
    public var envelopeLines: [String] {
        ["From: \(from)",
         "Reply-To: \(replyTo ?? "(none: replies go to From)")",
         "List-Unsubscribe: \(listUnsubscribe ?? "(none)")" + (listUnsubscribePost != nil ? " (one-click)" : "")]
    }

    /// The headers a reader sees, a blank line, and the decoded text part.
    public var readable: String {
        var lines = envelopeLines
        lines.insert("To: \(to)", at: 1)
        lines.insert("Subject: \(subject)", at: 2)
        return lines.joined(separator: "\n") + "\n\n" + text + (text.hasSuffix("\n") ? "" : "\n")
    }
}
