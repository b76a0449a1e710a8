import Foundation

/// One composed message for one recipient, before serialisation.
///
/// Every string here may come from a recipient's data; none of it is trusted.
/// `serialized(options:)` sanitises and encodes each value, so no field can add a
/// header, a recipient or a MIME part.
public struct Message: Sendable {
    public var from: Mailbox
    public var to: Mailbox
    public var replyTo: Mailbox?
    public var subject: String
    public var date: Date
    public var messageID: MessageID
    /// RFC 2919 List-Id, naming the list the recipient is on.
    public var listID: ListID?
    /// RFC 2369 / RFC 8058 unsubscribe targets.
    public var unsubscribe: ListUnsubscribe?
    /// Written as `X-Salvo-Campaign` and `Feedback-ID` so a bounce or complaint that
    /// quotes the headers leads back to the campaign and the recipient.
    public var trace: CampaignTrace?
    /// The plain-text body. When nil and `html` is set, a text part is generated from
    /// the HTML.
    public var text: String?
    public var html: String?
    public var attachments: [Attachment]

    public init(
        from: Mailbox, to: Mailbox, replyTo: Mailbox? = nil, subject: String, date: Date, messageID: MessageID,
        listID: ListID? = nil, unsubscribe: ListUnsubscribe? = nil, trace: CampaignTrace? = nil,
        text: String? = nil, html: String? = nil, attachments: [Attachment] = []
    ) {
        self.from = from
        self.to = to
        self.replyTo = replyTo
        self.subject = subject
        self.date = date
        self.messageID = messageID
        self.listID = listID
        self.unsubscribe = unsubscribe
        self.trace = trace
        self.text = text
        self.html = html
        self.attachments = attachments
    }
}

extension Message {
    /// Whether any address has a Unicode domain, so the bytes depend on
    /// `SerializationOptions.smtputf8` (punycode without it, Unicode with it). For an
    /// all-ASCII message both serialisations are identical.
    public var hasInternationalDomain: Bool {
        let domains = [from.domain, to.domain, replyTo?.domain, unsubscribe?.mailto?.domain].compactMap { $0 }
        return domains.contains { !$0.utf8.allSatisfy { $0 < 0x80 } }
    }
}

/// RFC 2919 List-Id: `Customers <customers.shop.example>`.
public struct ListID: Hashable, Sendable {
    /// The human name, written as a phrase (encoded if needed).
    public var name: String?
    /// The list identifier, a dot-atom; characters outside letters, digits, `-` and
    /// `.` are replaced by `-` when written.
    public var id: String

    public init(name: String?, id: String) {
        self.name = name
        self.id = id
    }

    /// The list identifier for list `name` on `domain`: `customers.shop.example`.
    public init(list name: String, domain: String) {
        self.init(name: name, id: "\(name).\(domain)")
    }

    var sanitisedID: String {
        var bytes: [UInt8] = []
        for byte in id.lowercased().utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."):
                bytes.append(byte)
            default:
                if bytes.last != UInt8(ascii: "-") { bytes.append(UInt8(ascii: "-")) }
            }
        }
        while bytes.first == UInt8(ascii: ".") || bytes.first == UInt8(ascii: "-") { bytes.removeFirst() }
        if bytes.count > 250 { bytes.removeLast(bytes.count - 250) }
        return bytes.isEmpty ? "list.invalid" : String(decoding: bytes, as: UTF8.self)
    }
}

/// The List-Unsubscribe targets: an HTTPS URL for one-click unsubscribe (RFC 8058)
/// and an optional mailto address.
public struct ListUnsubscribe: Hashable, Sendable {
    public var url: String?
    public var mailto: Mailbox?
    /// Adds `List-Unsubscribe-Post: List-Unsubscribe=One-Click`; only written when
    /// there is an https URL, as RFC 8058 requires.
    public var oneClick: Bool

    public init(url: String?, mailto: Mailbox? = nil, oneClick: Bool = true) {
        self.url = url
        self.mailto = mailto
        self.oneClick = oneClick
    }

    /// `url` as it can sit inside angle brackets in a header: every byte that is not
    /// allowed in a URI (spaces, controls, quotes, angle brackets, non-ASCII) is
    /// percent-encoded, so no value can close the bracket or the header.
    static func sanitisedURI(_ url: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(url.utf8.count)
        for byte in url.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                bytes.append(byte)
            case _ where "-._~:/?#[]@!$&'()*+,;=%".utf8.contains(byte):
                bytes.append(byte)
            default:
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// What ties a message back to its campaign and recipient when a bounce, a
/// complaint or an auto-reply quotes its headers.
public struct CampaignTrace: Hashable, Sendable {
    /// The campaign's name or id.
    public var campaign: String
    /// The recipient's (or delivery's) id in the store.
    public var recipient: String
    /// A sender id for the Feedback-ID header (the last of its four parts).
    public var sender: String

    public init(campaign: String, recipient: String, sender: String = "salvo") {
        self.campaign = campaign
        self.recipient = recipient
        self.sender = sender
    }

    /// Letters, digits and `-._@+` are kept; anything else becomes `%XX`, so the
    /// value is one token a bounce processor can split on `;` and `=`.
    static func token(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "@"), UInt8(ascii: "+"):
                bytes.append(byte)
            default:
                bytes.append(UInt8(ascii: "%"))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: bytes.prefix(200), as: UTF8.self)
    }

    /// Reads back an `X-Salvo-Campaign` value (`campaign=…; recipient=…`).
    public init?(headerValue: String) {
        var fields: [String: String] = [:]
        for part in headerValue.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let key = pair[0].trimmingASCIIWhitespace()
            fields[key] = pair[1].trimmingASCIIWhitespace().removingPercentEncoding
        }
        guard let campaign = fields["campaign"], let recipient = fields["recipient"] else { return nil }
        self.init(campaign: campaign, recipient: recipient)
    }
}

/// A file attached to the message, sent base64-encoded.
public struct Attachment: Hashable, Sendable {
    public var filename: String
    /// A MIME type such as `application/pdf`; anything that is not `type/subtype`
    /// made of token characters is sent as `application/octet-stream`.
    public var contentType: String
    public var data: [UInt8]

    public init(filename: String, contentType: String, data: [UInt8]) {
        self.filename = filename
        self.contentType = contentType
        self.data = data
    }
}
