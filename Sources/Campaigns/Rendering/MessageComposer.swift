import Foundation
import MailMessage

/// What every message of one campaign shares apart from its templates.
public struct CampaignMessageSettings: Sendable {
    /// The campaign's name: the `{{campaign}}` field, the trace header, and the
    /// campaign half of every unsubscribe token.
    public var campaign: String
    /// The list's name: the `{{list}}` field and the List-Id.
    public var list: String
    public var from: Mailbox
    public var replyTo: Mailbox?
    /// `unsubscribe.mailto`: a second List-Unsubscribe target.
    public var unsubscribeMailto: Mailbox?
    /// The key of `{{unsubscribe_token}}` and of the token in the List-Unsubscribe
    /// mailto (from `unsubscribe.secret_env` or `unsubscribe.secret_file`).
    public var unsubscribeSecret: [UInt8]?
    public var attachments: [Attachment]
    /// The campaign's fixed To header: one message for every recipient (nil: each
    /// recipient's own address).
    public var sharedTo: Mailbox?
    /// Links to `salvo serve` made for each delivery: `{{view_url}}`, tracked links and
    /// the open pixel (nil: the campaign uses none).
    public var web: WebLinks?

    public init(
        campaign: String, list: String, from: Mailbox, replyTo: Mailbox? = nil,
        unsubscribeMailto: Mailbox? = nil, unsubscribeSecret: [UInt8]? = nil, attachments: [Attachment] = [],
        sharedTo: Mailbox? = nil
    ) {
        self.sharedTo = sharedTo
        self.campaign = campaign
        self.list = list
        self.from = from
        self.replyTo = replyTo
        self.unsubscribeMailto = unsubscribeMailto
        self.unsubscribeSecret = unsubscribeSecret
        self.attachments = attachments
    }
}

/// What the messages of a campaign link to on `salvo serve` besides the unsubscribe
/// pages: `web.public_url`, the secret the tokens are made with, and the campaign's
/// `track:` setting.
public struct WebLinks: Sendable {
    /// `web.public_url`, without a trailing slash.
    public var publicURL: String
    public var secret: [UInt8]
    public var opens: Bool
    public var clicks: Bool

    public init(publicURL: String, secret: [UInt8], opens: Bool = false, clicks: Bool = false) {
        self.publicURL = publicURL
        self.secret = secret
        self.opens = opens
        self.clicks = clicks
    }

    /// The paths of `salvo serve` whose links are never tracked: unsubscribe, the
    /// preferences page, view in browser and tracking's own.
    static let ownPaths = ["/u/", "/p/", "/v/", "/c/", "/o/"]

    /// Whether a link to `target` stays as it is: the unsubscribe and preferences links
    /// (given as `kept`), and every link to `salvo serve`'s own pages.
    func keeps(_ target: String, kept: Set<String>) -> Bool {
        if kept.contains(target) { return true }
        guard target.hasPrefix(publicURL) else { return false }
        let path = target.dropFirst(publicURL.count)
        return Self.ownPaths.contains { path.hasPrefix($0) }
    }
}

/// One recipient as the renderer needs it: plain values, so the store can hand them
/// over without the renderer knowing about it.
public struct TemplateRecipient: Sendable {
    public var email: String
    /// For the To header; when nil it comes from the `name` column, or `first_name`
    /// and `last_name`.
    public var displayName: String?
    /// The list's columns for this recipient.
    public var attributes: [String: String]
    /// The id written in the trace header (the delivery's or recipient's id in the
    /// store); the address when nil.
    public var id: String?
    /// The delivery the tracking and view tokens name: set only for a campaign's own
    /// message to a recipient. A preview or a test send names none (0), so its links
    /// record nothing against anybody's delivery.
    public var delivery: Int64?

    public init(email: String, displayName: String? = nil, attributes: [String: String] = [:], id: String? = nil, delivery: Int64? = nil) {
        self.email = email
        self.displayName = displayName
        self.attributes = attributes
        self.id = id
        self.delivery = delivery
    }
}

/// The exact bytes for one recipient, and the Message-ID they carry.
public struct OutgoingMessage: Sendable {
    public let messageID: MessageID
    /// True when an address has a Unicode domain: the bytes were written for the
    /// `smtputf8` option given and must be composed again for a server that differs.
    public let dependsOnSMTPUTF8: Bool
    /// Headers (DKIM-Signature first when signed), blank line, body; CRLF line
    /// endings; not dot-stuffed.
    public let bytes: [UInt8]
}

/// Why one recipient's message could not be composed.
public enum CompositionError: Error, Sendable, CustomStringConvertible {
    case recipient(String, MailboxError)
    case serialization(String, SerializationError)
    case signing(String, DKIMSignerError)

    public var description: String {
        switch self {
        case .recipient(let email, let error): "recipient \(email): \(error)"
        case .serialization(let email, let error): "message for \(email): \(error)"
        case .signing(let email, let error): "message for \(email): \(error)"
        }
    }
}

/// Renders a campaign's template for each recipient into a signed message: what
/// `salvo send` calls per delivery and `salvo preview` prints.
public struct MessageComposer: Sendable {
    public let template: MessageTemplate
    public let settings: CampaignMessageSettings
    /// Each adds one DKIM-Signature. Two (ed25519 and rsa) is the dual signing RFC 8463
    /// recommends while not every receiver verifies Ed25519; none sends unsigned mail
    /// (for a relay that signs).
    public let signers: [DKIMSigner]
    /// Makes `{{unsubscribe_token}}` when the templates use it, and the token the
    /// List-Unsubscribe mailto carries when `unsubscribe.mailto` is set.
    private let tokens: UnsubscribeToken.Maker?
    /// Makes the tracking and view tokens when `settings.web` is set.
    private let webTokens: TrackingToken.Maker?

    /// - Throws: `TemplateError` when the templates use `{{unsubscribe_token}}` and
    ///   `settings` has no secret.
    public init(template: MessageTemplate, settings: CampaignMessageSettings, signer: DKIMSigner?) throws(TemplateError) {
        try self.init(template: template, settings: settings, signers: signer.map { [$0] } ?? [])
    }

    public init(template: MessageTemplate, settings: CampaignMessageSettings, signers: [DKIMSigner]) throws(TemplateError) {
        if template.usesUnsubscribeToken, settings.unsubscribeSecret?.isEmpty ?? true,
           let use = template.fieldReferences.first(where: { $0.name == "unsubscribe_token" }) {
            throw TemplateError(file: use.file, line: use.line, kind: .missingUnsubscribeSecret)
        }
        self.template = template
        self.settings = settings
        self.signers = signers
        if template.usesUnsubscribeToken || settings.unsubscribeMailto != nil, let secret = settings.unsubscribeSecret, !secret.isEmpty {
            tokens = UnsubscribeToken.Maker(campaign: settings.campaign, secret: secret)
        } else {
            tokens = nil
        }
        webTokens = settings.web.map { TrackingToken.Maker(secret: $0.secret) }
    }

    /// The merge values for `recipient`: the list's columns, then the built-ins.
    public func values(for recipient: TemplateRecipient) -> [String: String] {
        var values: [String: String] = [:]
        values.reserveCapacity(recipient.attributes.count + 8)
        // Empty values are left out so `{{#field}}` is false for them.
        for (key, value) in recipient.attributes where !value.isEmpty { values[key] = value }
        let displayName = Self.displayName(of: recipient)
        if values["name"] == nil, let displayName { values["name"] = displayName }
        if values["first_name"] == nil || values["last_name"] == nil, let displayName {
            let words = displayName.split(separator: " ", omittingEmptySubsequences: true)
            if values["first_name"] == nil, let first = words.first { values["first_name"] = String(first) }
            if values["last_name"] == nil, words.count > 1 { values["last_name"] = words.dropFirst().joined(separator: " ") }
        }
        values["email"] = recipient.email
        values["campaign"] = settings.campaign
        values["list"] = settings.list
        if let tokens { values["unsubscribe_token"] = tokens.make(recipient: recipient.email) }
        if let web = settings.web, let webTokens, template.usesViewURL {
            values["view_url"] = web.publicURL + "/v/" + webTokens.view(delivery: Self.deliveryID(of: recipient))
        }
        return values
    }

    /// The delivery a recipient's tokens name: 0 for a message that is no delivery (a
    /// preview, a test send), whose tracked links and pixel lead to the 404 page.
    static func deliveryID(of recipient: TemplateRecipient) -> Int64 {
        recipient.delivery ?? 0
    }

    /// The rendered HTML part for `recipient`, as it is sent: links tracked and the open
    /// pixel added as the campaign says (`pixel: false` leaves the pixel out, for the
    /// page that shows the message in a browser).
    public func html(for recipient: TemplateRecipient, pixel: Bool = true) -> String? {
        let values = values(for: recipient)
        let rendered = template.render(values)
        return tracked(rendered, values: values, recipient: recipient, pixel: pixel)
    }

    /// The targets of the trackable links of `recipient`'s HTML part, in the order the
    /// click tokens number them, whether or not the campaign tracks clicks now: a token
    /// in mail sent before keeps leading where it did.
    public func trackableLinks(for recipient: TemplateRecipient) -> [String] {
        guard let web = settings.web else { return [] }
        let values = values(for: recipient)
        let rendered = template.render(values)
        guard let html = rendered.html else { return [] }
        let kept = keptLinks(rendered, values)
        return LinkTracking.links(in: html) { web.keeps($0, kept: kept) }.map(\.target)
    }

    /// The unsubscribe and preferences links of one rendering: never tracked.
    private func keptLinks(_ rendered: MessageTemplate.Rendered, _ values: [String: String]) -> Set<String> {
        Set([rendered.unsubscribeURL.map(Self.trimmed), values["preferences_url"]].compactMap { $0 })
    }

    /// `rendered`'s HTML part with its links tracked (when clicks are) and the open pixel
    /// (when opens are). The links kept as they are (`values`' unsubscribe and preferences
    /// links) are worked out only when clicks are tracked: most campaigns track nothing,
    /// and every message of a send passes here.
    private func tracked(_ rendered: MessageTemplate.Rendered, values: [String: String], recipient: TemplateRecipient,
                         pixel: Bool = true) -> String? {
        guard var html = rendered.html else { return nil }
        guard let web = settings.web, let webTokens, web.clicks || web.opens else { return html }
        let delivery = Self.deliveryID(of: recipient)
        if web.clicks {
            let kept = keptLinks(rendered, values)
            let links = LinkTracking.links(in: html) { web.keeps($0, kept: kept) }
            html = LinkTracking.rewrite(html, links: links) { position, target in
                web.publicURL + "/c/" + webTokens.click(delivery: delivery, position: position, target: target)
            }
        }
        if web.opens, pixel {
            html = LinkTracking.appendingPixel(to: html, source: web.publicURL + "/o/" + webTokens.open(delivery: delivery))
        }
        return html
    }

    /// The message for `recipient`, dated `date`, with a Message-ID drawn from
    /// `generator`.
    public func message(for recipient: TemplateRecipient, date: Date, using generator: inout some RandomNumberGenerator) throws(CompositionError) -> Message {
        let values = values(for: recipient)
        var rendered = template.render(values)
        // A text part generated from the HTML is made before the links are tracked: the
        // text part is never tracked, written or generated.
        if rendered.text == nil, settings.web?.clicks == true, let html = rendered.html { rendered.text = PlainText(html: html).text }
        rendered.html = tracked(rendered, values: values, recipient: recipient)

        let to: Mailbox
        if let shared = settings.sharedTo {
            to = shared
        } else {
            do {
                to = try Mailbox(displayName: Self.displayName(of: recipient), address: recipient.email)
            } catch {
                throw .recipient(recipient.email, error)
            }
        }
        let domain = (try? Punycode.toASCII(domain: settings.from.domain)) ?? settings.from.domain
        let url = rendered.unsubscribeURL.map(Self.trimmed).flatMap { $0.isEmpty ? nil : $0 }
        // A shared message (a fixed `to:`) names no recipient, so its mailto carries no token.
        let mailtoToken = settings.unsubscribeMailto != nil && settings.sharedTo == nil ? values["unsubscribe_token"] : nil
        let unsubscribe = url != nil || settings.unsubscribeMailto != nil
            ? ListUnsubscribe(url: url, mailto: settings.unsubscribeMailto, mailtoToken: mailtoToken)
            : nil
        return Message(
            from: settings.from,
            to: to,
            replyTo: settings.replyTo,
            // A subject template written as a YAML block ends in a newline.
            subject: Self.trimmed(rendered.subject),
            date: date,
            messageID: MessageID.generate(domain: domain, at: date, using: &generator),
            listID: ListID(list: settings.list, domain: domain),
            unsubscribe: unsubscribe,
            // A shared message names no recipient: it is the same for all of them.
            trace: CampaignTrace(campaign: settings.campaign, recipient: settings.sharedTo == nil ? recipient.id ?? recipient.email : "all"),
            text: rendered.text,
            html: rendered.html,
            attachments: settings.attachments
        )
    }

    /// Renders, serialises and signs the message for `recipient`: the exact bytes to
    /// send.
    public func compose(
        for recipient: TemplateRecipient, date: Date, options: SerializationOptions = .init(),
        using generator: inout some RandomNumberGenerator
    ) throws(CompositionError) -> OutgoingMessage {
        let message = try message(for: recipient, date: date, using: &generator)
        return OutgoingMessage(
            messageID: message.messageID,
            dependsOnSMTPUTF8: message.hasInternationalDomain,
            bytes: try Self.wireBytes(message, signers: signers, options: options, at: date)
        )
    }

    /// `message` serialised and DKIM-signed at `time` by each of `signers` (none:
    /// unsigned): the exact bytes `salvo preview` prints and `salvo send` sends.
    public static func wireBytes(_ message: Message, signers: [DKIMSigner], options: SerializationOptions = .init(), at time: Date) throws(CompositionError) -> [UInt8] {
        var serialized: SerializedMessage
        do { serialized = try message.serialized(options: options) } catch { throw .serialization(message.to.address, error) }
        // Every signature covers the same unsigned fields, so the order is free; the
        // first signer's field ends up on top.
        var fields: [HeaderField] = []
        for signer in signers {
            do { fields.append(try signer.signature(for: serialized, at: time)) } catch { throw .signing(message.to.address, error) }
        }
        serialized.headers.insert(contentsOf: fields, at: 0)
        return serialized.bytes
    }

    /// `wireBytes` with at most one signer.
    public static func wireBytes(_ message: Message, signer: DKIMSigner?, options: SerializationOptions = .init(), at time: Date) throws(CompositionError) -> [UInt8] {
        try wireBytes(message, signers: signer.map { [$0] } ?? [], options: options, at: time)
    }

    /// `text` without leading and trailing white space. Most subjects and URLs have
    /// none, and finding that out from the first and last bytes saves Foundation's
    /// trimming (a bridge through NSString) on every message.
    private static func trimmed(_ text: String) -> String {
        func plain(_ byte: UInt8?) -> Bool {
            guard let byte else { return true }
            return byte > 0x20 && byte < 0x7F
        }
        if plain(text.utf8.first), plain(text.utf8.last) { return text }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func displayName(of recipient: TemplateRecipient) -> String? {
        if let name = recipient.displayName, !name.isEmpty { return name }
        if let name = recipient.attributes["name"], !name.isEmpty { return name }
        let parts = [recipient.attributes["first_name"], recipient.attributes["last_name"]].compactMap { $0 }.filter { !$0.isEmpty }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }
}
