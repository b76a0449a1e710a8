import Foundation
import MailMessage

/// A campaign as its YAML file describes it, checked and with paths resolved against the
/// file's folder and made absolute, so the stored campaign works from any folder.
///
///     name: spring-sale
///     list: customers
///     segment: country == "NG" and tags contains "food"
///     from: "Shop <news@shop.example>"
///     subject: "{{first_name}}, spring deals"
///     html: templates/spring-sale.html.mustache
///     text: templates/spring-sale.txt.mustache
///     unsubscribe: "https://shop.example/u/{{unsubscribe_token}}"
public struct CampaignDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var list: String
    public var segment: String?
    public var from: String
    public var replyTo: String?
    public var subject: String
    /// Template paths, resolved against the campaign file's folder.
    public var html: String?
    public var text: String?
    /// The one-click unsubscribe URL template.
    public var unsubscribe: String?
    /// The preferences page's URL template, for `{{preferences_url}}`; when absent it is
    /// derived from an unsubscribe link of `salvo serve`'s shape (`…/u/{{unsubscribe_token}}`
    /// gives `…/p/{{unsubscribe_token}}`).
    public var preferences: String?
    /// Who is told of the campaign's failures; the From address when absent.
    public var notify: String?
    /// A fixed To header (a list's own address, say). Every recipient then gets the same
    /// message, so the templates may not use a recipient's fields, and the recipients of
    /// one destination share SMTP transactions (RCPT batching).
    public var to: String?
    /// `transactional: true`: mail a recipient asked for (receipts, password resets), which
    /// may go without an unsubscribe link. Every other campaign is bulk mail and must
    /// carry one (Gmail and Yahoo refuse bulk senders without one-click unsubscribe).
    public var transactional: Bool?
    /// Who the campaign mails: `start` (nil) — the recipients its segment selects when it
    /// starts, nobody imported later — or `live`, a standing campaign that takes
    /// newcomers at every `salvo send` and `salvo run`.
    public var audience: Audience?
    /// Campaigns whose recipients (those it was sent to) this one skips.
    public var exclude: [String]?
    /// `track: { opens: true, clicks: true }`: open and click tracking through `salvo
    /// serve`, off unless asked for.
    public var track: Tracking?

    /// What `track:` asks for.
    public struct Tracking: Codable, Sendable, Equatable {
        /// A 1×1 image at the end of the HTML part.
        public var opens: Bool
        /// Every http(s) link of the HTML part through `web.public_url/c/…`.
        public var clicks: Bool

        public init(opens: Bool = false, clicks: Bool = false) {
            self.opens = opens
            self.clicks = clicks
        }
    }

    /// Whether the campaign tracks anything.
    public var tracks: Bool { track.map { $0.opens || $0.clicks } ?? false }

    public enum Audience: String, Codable, Sendable, Equatable, CaseIterable {
        case start, live
    }

    /// The audience in force: `start` unless the file says `live`.
    public var audienceMode: Audience { audience ?? .start }

    public static let knownKeys = ["name", "list", "segment", "from", "reply_to", "subject", "html", "text", "unsubscribe", "preferences", "notify", "to",
                                   "transactional", "audience", "exclude", "track"]

    /// Reads a campaign file, checking what can be checked without the store: required
    /// keys, the segment's syntax, the addresses, and that the templates exist.
    public static func load(path: String) throws -> CampaignDefinition {
        let root = try YAMLValue.load(path: path)
        let keys = try root.mapping(known: knownKeys)
        func required(_ key: String) throws -> YAMLValue {
            guard let value = keys[key] else { throw root.error("missing key '\(key)'") }
            return value
        }
        let nameValue = try required("name")
        let name = try nameValue.nonEmptyString()
        if name.contains(where: { $0.isNewline || $0.isWhitespace && $0 != " " }) {
            throw nameValue.error("a campaign name is one line of text")
        }
        var definition = CampaignDefinition(
            name: name,
            list: try required("list").nonEmptyString(),
            segment: nil,
            from: try required("from").nonEmptyString(),
            subject: try required("subject").nonEmptyString())
        if let segment = keys["segment"] {
            let text = try segment.string()
            if !text.trimmingCharacters(in: .whitespaces).isEmpty {
                do {
                    _ = try SegmentParser.parse(text)
                } catch {
                    throw segment.error("\(error)")
                }
                definition.segment = text
            }
        }
        do {
            _ = try checkMailbox(definition.from)
        } catch {
            throw try required("from").error("'\(definition.from)' is not a valid sender: \(error)")
        }
        if let replyTo = keys["reply_to"] {
            definition.replyTo = try replyTo.nonEmptyString()
            do { _ = try checkMailbox(definition.replyTo!) } catch { throw replyTo.error("not a valid address: \(error)") }
        }
        if let notify = keys["notify"] {
            definition.notify = try notify.nonEmptyString()
            do { _ = try checkMailbox(definition.notify!) } catch { throw notify.error("not a valid address: \(error)") }
        }
        if let to = keys["to"] {
            definition.to = try to.nonEmptyString()
            do { _ = try checkMailbox(definition.to!) } catch { throw to.error("not a valid address: \(error)") }
        }
        for key in ["html", "text"] {
            guard let value = keys[key] else { continue }
            let templatePath = absolutePath(try value.path())
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: templatePath, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw value.error("template file \(templatePath) does not exist")
            }
            if key == "html" { definition.html = templatePath } else { definition.text = templatePath }
        }
        if definition.html == nil, definition.text == nil {
            throw root.error("a campaign needs an html or a text template (or both)")
        }
        if let unsubscribe = keys["unsubscribe"] {
            let url = try unsubscribe.nonEmptyString()
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw unsubscribe.error("the unsubscribe link must be an http(s) URL (RFC 8058 one-click), found '\(url)'")
            }
            definition.unsubscribe = url
        }
        if let preferences = keys["preferences"] {
            let url = try preferences.nonEmptyString()
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw preferences.error("the preferences link must be an http(s) URL, found '\(url)'")
            }
            definition.preferences = url
        }
        if let transactional = keys["transactional"] { definition.transactional = try transactional.bool() }
        if definition.unsubscribe == nil, definition.transactional != true {
            throw root.error("a bulk campaign needs an unsubscribe link (unsubscribe: \"https://…/{{unsubscribe_token}}\"), which Gmail and Yahoo require of bulk senders; mail a recipient asked for says transactional: true")
        }
        if let audience = keys["audience"] {
            definition.audience = Audience(rawValue: try audience.oneOf(Audience.allCases.map(\.rawValue)))
        }
        if let exclude = keys["exclude"] {
            let names = try exclude.array().map { try $0.nonEmptyString() }
            if names.contains(definition.name) { throw exclude.error("a campaign cannot exclude itself") }
            definition.exclude = names.isEmpty ? nil : names
        }
        if let track = keys["track"] {
            let options = try track.mapping(known: ["opens", "clicks"])
            let tracking = Tracking(opens: try options["opens"]?.bool() ?? false, clicks: try options["clicks"]?.bool() ?? false)
            if tracking.opens || tracking.clicks {
                if definition.to != nil { throw track.error("tracking needs a message per recipient, and a campaign with a fixed `to:` sends one to all") }
                if definition.html == nil { throw track.error("opens and clicks are tracked in the HTML part, and the campaign has no html template") }
                definition.track = tracking
            }
        }
        return definition
    }

    /// `path` made absolute against the working directory (a path from the YAML file is
    /// first joined to the file's folder as written).
    public static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return (path as NSString).standardizingPath }
        let folder = FileManager.default.currentDirectoryPath
        return ((folder as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }
}

extension CampaignDefinition {
    /// Checks a header mailbox the way the message will be written (`Mailbox`) and its
    /// address the way a list's addresses are (`EmailAddress`).
    static func checkMailbox(_ text: String) throws -> Mailbox {
        let mailbox = try Mailbox(parsing: text)
        _ = try EmailAddress(mailbox.address)
        return mailbox
    }
}
