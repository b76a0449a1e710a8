import Foundation

/// A mailbox as it appears in From, To or Reply-To: an optional display name and an
/// address.
///
/// The address is checked only as far as header safety needs: no control characters,
/// spaces, angle brackets or commas can reach a header through it, so a recipient's
/// data can never add a header or a second recipient. Full RFC 5321 syntax checking is
/// `EmailAddress`'s job. The display name may hold anything: it is sanitised and
/// encoded when the message is serialised.
public struct Mailbox: Hashable, Sendable, CustomStringConvertible {
    /// The display name as given; control characters are replaced when serialised.
    public var displayName: String?
    /// The local part, ASCII, exactly as written.
    public let localPart: String
    /// The domain as written: Unicode domains are converted to punycode when the
    /// message is serialised for a server without SMTPUTF8.
    public let domain: String

    public init(displayName: String? = nil, localPart: String, domain: String) throws(MailboxError) {
        try Self.checkLocalPart(localPart)
        try Self.checkDomain(domain)
        self.displayName = displayName
        self.localPart = localPart
        self.domain = domain
    }

    /// A mailbox from a bare address `local@domain`.
    public init(displayName: String? = nil, address: String) throws(MailboxError) {
        guard let at = address.lastIndex(of: "@") else { throw .missingAt(address) }
        try self.init(
            displayName: displayName,
            localPart: String(address[..<at]),
            domain: String(address[address.index(after: at)...])
        )
    }

    /// Parses the forms a campaign file uses for its sender: `news@shop.example`,
    /// `Shop <news@shop.example>` or `"Shop, Inc." <news@shop.example>`.
    public init(parsing text: String) throws(MailboxError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else {
            try self.init(address: trimmed)
            return
        }
        let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
        var name = Substring(trimmed[..<open]).trimmingASCIIWhitespace()
        if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") {
            name = String(name.dropFirst().dropLast())
            name = name.replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
        }
        try self.init(displayName: name.isEmpty ? nil : name, address: address)
    }

    /// `local@domain`, the domain as written.
    public var address: String { "\(localPart)@\(domain)" }

    public var description: String {
        if let displayName { return "\(displayName) <\(address)>" }
        return address
    }

    private static func checkLocalPart(_ local: String) throws(MailboxError) {
        if local.isEmpty || local.utf8.count > 64 { throw .invalidLocalPart(local) }
        for byte in local.utf8 where !isSafeAddressByte(byte) || byte >= 0x80 {
            throw .invalidLocalPart(local)
        }
    }

    private static func checkDomain(_ domain: String) throws(MailboxError) {
        if domain.isEmpty || domain.utf8.count > 255 { throw .invalidDomain(domain) }
        for byte in domain.utf8 where !isSafeAddressByte(byte) || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "\"") {
            throw .invalidDomain(domain)
        }
    }

    /// Bytes that can never end a header, a mailbox or an address list.
    private static func isSafeAddressByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0..<0x21, 0x7F, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: ","), UInt8(ascii: ";"):
            return false
        default:
            return true
        }
    }
}

/// Why a mailbox was refused; each case carries the offending text.
public enum MailboxError: Error, Hashable, Sendable, CustomStringConvertible {
    case missingAt(String)
    case invalidLocalPart(String)
    case invalidDomain(String)

    public var description: String {
        switch self {
        case .missingAt(let text): "address \(text.debugDescription) has no @"
        case .invalidLocalPart(let text): "local part \(text.debugDescription) is empty, too long or holds a character not allowed in a header"
        case .invalidDomain(let text): "domain \(text.debugDescription) is empty, too long or holds a character not allowed in a header"
        }
    }
}

extension StringProtocol {
    func trimmingASCIIWhitespace() -> String {
        // By byte: a space, tab, CR or LF byte is always a whole scalar in UTF-8.
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        let text = String(self)
        let bytes = text.utf8
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else { return "" }
        if first == bytes.startIndex, bytes.index(after: last) == bytes.endIndex { return text }
        return String(text[first...last])
    }
}
