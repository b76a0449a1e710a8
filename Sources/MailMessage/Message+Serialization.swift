import Foundation

/// How a message is written for one SMTP transaction.
public struct SerializationOptions: Hashable, Sendable {
    /// The server offered SMTPUTF8 (RFC 6531): internationalised domains stay in
    /// Unicode. Without it they are written as punycode (`xn--`).
    public var smtputf8: Bool

    public init(smtputf8: Bool = false) {
        self.smtputf8 = smtputf8
    }
}

/// A message as header fields and body bytes: what the DKIM signer reads and what is
/// sent after DATA (before dot-stuffing, which is the SMTP layer's job).
public struct SerializedMessage: Sendable {
    /// In the order they are written.
    public var headers: [HeaderField]
    /// Everything after the blank line, CRLF line endings, no line over 998 octets.
    public var body: [UInt8]

    /// The whole message: headers, blank line, body.
    public var bytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(body.count + headers.count * 80 + 2)
        for header in headers { header.append(to: &output) }
        output.append(13)
        output.append(10)
        output.append(contentsOf: body)
        return output
    }

    /// The last field called `name` (case-insensitive).
    public func header(_ name: String) -> HeaderField? {
        headers.last { $0.name.equalsIgnoringASCIICase(name) }
    }
}

/// Why a message could not be written.
public enum SerializationError: Error, Hashable, Sendable, CustomStringConvertible {
    case domain(PunycodeError)
    case unsubscribeURLTooLong(Int)

    public var description: String {
        switch self {
        case .domain(let error): "\(error)"
        case .unsubscribeURLTooLong(let length): "unsubscribe URL is \(length) octets; at most 900 fit in a header"
        }
    }
}

extension Message {
    /// Writes the message: RFC 5322 headers, MIME structure, transfer encodings.
    public func serialized(options: SerializationOptions = .init()) throws(SerializationError) -> SerializedMessage {
        var headers: [HeaderField] = []
        headers.reserveCapacity(14)
        headers.append(try Self.mailboxField("From", from, options))
        headers.append(try Self.mailboxField("To", to, options))
        if let replyTo { headers.append(try Self.mailboxField("Reply-To", replyTo, options)) }
        var subjectFolder = HeaderFolder(name: "Subject")
        subjectFolder.appendUnstructured(subject)
        headers.append(HeaderField(name: "Subject", value: subjectFolder.value))
        headers.append(HeaderField(name: "Date", value: " " + DateHeader.format(date)))
        headers.append(HeaderField(name: "Message-ID", value: " " + messageID.description))
        if let autoSubmitted { headers.append(HeaderField(name: "Auto-Submitted", value: " " + autoSubmitted.rawValue)) }
        headers.append(HeaderField(name: "MIME-Version", value: " 1.0"))

        let root = bodyTree()
        var body: [UInt8] = []
        body.reserveCapacity((text?.utf8.count ?? 0) * 2 + (html?.utf8.count ?? 0) * 2 + 1024)
        for field in root.headers { headers.append(HeaderField(name: field.0, value: " " + field.1)) }
        root.writeBody(into: &body)

        let sanitisedListID = listID?.sanitisedID
        if let listID, let sanitisedListID {
            var folder = HeaderFolder(name: "List-Id")
            if let name = listID.name, !name.isEmpty { folder.appendPhrase(name) }
            folder.append("<\(sanitisedListID)>")
            headers.append(HeaderField(name: "List-Id", value: folder.value))
        }
        if let unsubscribe {
            var targets: [String] = []
            var hasHTTPS = false
            if let url = unsubscribe.url, !url.isEmpty {
                let uri = ListUnsubscribe.sanitisedURI(HeaderFolder.sanitised(url))
                guard uri.utf8.count <= 900 else { throw .unsubscribeURLTooLong(uri.utf8.count) }
                hasHTTPS = uri.utf8.prefix(6).map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }.elementsEqual("https:".utf8)
                targets.append("<\(uri)>")
            }
            if let mailto = unsubscribe.mailto {
                let domain = try Self.domain(mailto.domain, options)
                let query = UnsubscribeMailto.query(token: unsubscribe.mailtoToken)
                targets.append("<mailto:\(ListUnsubscribe.sanitisedURI(mailto.localPart))@\(ListUnsubscribe.sanitisedURI(domain))\(query)>")
            }
            if !targets.isEmpty {
                var folder = HeaderFolder(name: "List-Unsubscribe")
                for (index, target) in targets.enumerated() {
                    folder.append(index < targets.count - 1 ? target + "," : target)
                }
                headers.append(HeaderField(name: "List-Unsubscribe", value: folder.value))
                if unsubscribe.oneClick, hasHTTPS {
                    headers.append(HeaderField(name: "List-Unsubscribe-Post", value: " List-Unsubscribe=One-Click"))
                }
            }
        }
        if let trace {
            let campaign = CampaignTrace.token(trace.campaign)
            let recipient = CampaignTrace.token(trace.recipient)
            var folder = HeaderFolder(name: "X-Salvo-Campaign")
            folder.append("campaign=\(campaign);")
            folder.append("recipient=\(recipient)")
            headers.append(HeaderField(name: "X-Salvo-Campaign", value: folder.value))
            // Gmail's feedback loop format: up to four ":"-separated ids, sender last.
            let feedback = [campaign, sanitisedListID, CampaignTrace.token(trace.sender)]
                .compactMap { $0.map(Self.withoutColons) }
                .joined(separator: ":")
            headers.append(HeaderField(name: "Feedback-ID", value: " " + feedback))
        }
        return SerializedMessage(headers: headers, body: body)
    }

    /// The message's MIME tree: alternative (text, html) inside mixed when there are
    /// attachments; a single leaf when there is only one part.
    private func bodyTree() -> MIMEPart {
        let seed = Self.boundarySeed(messageID.value)
        var alternatives: [MIMEPart] = []
        let plain = text ?? html.map(PlainText.init(html:))?.text
        if let plain { alternatives.append(.text(plain, subtype: "plain")) }
        if let html { alternatives.append(.text(html, subtype: "html")) }
        if alternatives.isEmpty { alternatives.append(.text("", subtype: "plain")) }
        let content = alternatives.count == 1
            ? alternatives[0]
            : MIMEPart.multipart(subtype: "alternative", boundary: "=_alt_" + seed, parts: alternatives)
        if attachments.isEmpty { return content }
        return .multipart(subtype: "mixed", boundary: "=_mix_" + seed, parts: [content] + attachments.map(MIMEPart.attachment))
    }

    /// Boundaries contain "=_", which neither quoted-printable nor base64 output can
    /// contain, and 7bit parts are only used for text without "=": no part content can
    /// ever match a boundary, whatever a recipient's data holds.
    private static func boundarySeed(_ messageID: String) -> String {
        var seed: [UInt8] = []
        seed.reserveCapacity(40)
        for byte in messageID.utf8 {
            if byte == UInt8(ascii: "@") || seed.count == 40 { break }
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                seed.append(byte)
            default:
                continue
            }
        }
        return String(decoding: seed, as: UTF8.self)
    }

    /// ":" separates the Feedback-ID's parts, so none may hold one.
    private static func withoutColons(_ part: String) -> String {
        guard part.utf8.contains(UInt8(ascii: ":")) else { return part }
        return String(decoding: part.utf8.map { $0 == UInt8(ascii: ":") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
    }

    static func domain(_ domain: String, _ options: SerializationOptions) throws(SerializationError) -> String {
        if options.smtputf8 { return domain.precomposedStringWithCanonicalMapping }
        do { return try Punycode.toASCII(domain: domain) } catch { throw .domain(error) }
    }

    private static func mailboxField(_ name: String, _ mailbox: Mailbox, _ options: SerializationOptions) throws(SerializationError) -> HeaderField {
        var folder = HeaderFolder(name: name)
        let address = "<\(mailbox.localPart)@\(try domain(mailbox.domain, options))>"
        // Sanitised once, then trimmed: a control character at either end becomes a
        // space and goes with the blanks around it.
        if let displayName = mailbox.displayName.map({ HeaderFolder.sanitised($0).trimmingASCIIWhitespace() }), !displayName.isEmpty {
            folder.appendPhrase(displayName)
            folder.append(address)
        } else {
            folder.append(address)
        }
        return HeaderField(name: name, value: folder.value)
    }
}

extension String {
    /// Header names are ASCII; this avoids Foundation's locale-aware comparison in
    /// the per-message path.
    func equalsIgnoringASCIICase(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        for (a, b) in zip(utf8, other.utf8) {
            let la = a >= 65 && a <= 90 ? a + 32 : a
            let lb = b >= 65 && b <= 90 ? b + 32 : b
            if la != lb { return false }
        }
        return true
    }
}
