/// Addresses as reports write them: `rfc822; ann@example.com` in DSN and ARF fields
/// (RFC 3464 §2.3.2, RFC 5965 §3.5), `<ann@example.com>` in envelope fields, and
/// `Ann <ann@example.com>, bob@example.com` in To.
enum ReportAddress {
    /// The address of a typed field (`address-type; address`), or nil when the type is
    /// not an Internet mail address (`x400;`, `utf-8;` kept when it holds an `@`).
    static func typed(_ value: String) -> String? {
        var text = Substring(value)
        if let semicolon = text.firstIndex(of: ";") {
            let type = text[..<semicolon].trimmingCharacters(in: .whitespaces).lowercased()
            guard ["rfc822", "utf-8", "x-unknown", ""].contains(type) else { return nil }
            text = text[text.index(after: semicolon)...]
        }
        return bare(String(text))
    }

    /// `<a@b>`, `a@b` or `Name <a@b>` → `a@b`; nil without an `@` (`<>`, MAILER-DAEMON).
    static func bare(_ value: String) -> String? {
        var text = value.trimmingASCIISpaces()
        if let open = text.lastIndex(of: "<"), let close = text[open...].firstIndex(of: ">") {
            text = String(text[text.index(after: open)..<close])
        }
        text = text.trimmingASCIISpaces()
        guard let at = text.lastIndex(of: "@"), at != text.startIndex, text.index(after: at) != text.endIndex,
              !text.contains(" ") else { return nil }
        // The domain compares case-insensitively; the local part is kept as written.
        return text[..<at] + "@" + text[text.index(after: at)...].lowercased()
    }

    /// Every address of an address-list header such as To (commas inside quotes or angle
    /// brackets do not split).
    static func list(_ value: String) -> [String] {
        var items: [String] = []
        var current = ""
        var quoted = false, angle = false
        for character in value {
            switch character {
            case "\"": quoted.toggle()
            case "<" where !quoted: angle = true
            case ">" where !quoted: angle = false
            case "," where !quoted && !angle:
                items.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        items.append(current)
        return items.compactMap(bare)
    }

    /// `<id@host>` as it appears in a Message-ID field: the angle brackets kept, as Salvo
    /// stores `deliveries.message_id`. Nil when the field holds no `<…>`.
    static func messageID(_ value: String) -> String? {
        guard let open = value.firstIndex(of: "<"), let close = value[open...].firstIndex(of: ">") else { return nil }
        let id = value[open...close].filter { !$0.isWhitespace }
        return id.count > 2 ? String(id) : nil
    }
}
