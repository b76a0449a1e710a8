/// A mailbox address (`local-part@domain`) that passed the RFC 5321 syntax and length
/// rules, with its domain lower-cased.
///
/// Bulk lists are full of near-addresses, so the checks are strict where a receiving MTA
/// would refuse the envelope anyway: a dot-string or quoted-string local part of at most
/// 64 octets, a domain of at least two labels, each at most 63 octets, at most 255 in all,
/// and the whole address at most 254 octets (the 256-octet path less its angle brackets).
/// Internationalised domain names (U-labels) are accepted as written; the local part
/// must be ASCII, because a UTF-8 local part can only travel to a server offering
/// SMTPUTF8 and a list cannot know that in advance. Address literals (`user@[192.0.2.1]`)
/// are refused: no mailbox provider accepts bulk mail addressed that way.
public struct EmailAddress: Hashable, Sendable, CustomStringConvertible {
    /// The local part exactly as written (it is case-sensitive per RFC 5321 §2.4).
    public let localPart: String
    /// The domain, lower-cased, in Unicode form if it was written that way.
    public let domain: String

    public var description: String { "\(localPart)@\(domain)" }

    /// Parses and normalises `text`, which must hold exactly one address with no
    /// surrounding spaces or angle brackets.
    public init(_ text: String) throws(EmailAddressError) {
        var text = text
        let parsed: Result<(String, String), EmailAddressError> = text.withUTF8 { bytes in
            do throws(EmailAddressError) { return .success(try EmailAddress.split(bytes)) } catch { return .failure(error) }
        }
        let (local, domain) = try parsed.get()
        self.localPart = local
        self.domain = domain
    }

    private static let maxLocalPart = 64
    private static let maxDomain = 255
    private static let maxLabel = 63
    private static let maxAddress = 254

    private static func split(_ bytes: UnsafeBufferPointer<UInt8>) throws(EmailAddressError) -> (String, String) {
        if bytes.isEmpty { throw .empty }
        if bytes.count > maxAddress { throw .tooLong(bytes.count) }
        // The last "@" separates the domain: a quoted local part may contain "@".
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { throw .missingAt }
        let local = UnsafeBufferPointer(rebasing: bytes[..<at])
        let domain = UnsafeBufferPointer(rebasing: bytes[(at + 1)...])
        try checkLocalPart(local)
        let normalisedDomain = try checkDomain(domain)
        return (String(decoding: local, as: UTF8.self), normalisedDomain)
    }

    private static func checkLocalPart(_ local: UnsafeBufferPointer<UInt8>) throws(EmailAddressError) {
        if local.isEmpty { throw .emptyLocalPart }
        if local.count > maxLocalPart { throw .localPartTooLong(local.count) }
        if local.first == UInt8(ascii: "\"") {
            try checkQuotedString(local)
            return
        }
        var previousWasDot = true  // a leading dot is as wrong as two in a row
        for byte in local {
            if byte == UInt8(ascii: ".") {
                if previousWasDot { throw .misplacedDot }
                previousWasDot = true
            } else if isAtext(byte) {
                previousWasDot = false
            } else if byte >= 0x80 {
                throw .nonASCIILocalPart
            } else {
                throw .invalidCharacter(Character(Unicode.Scalar(byte)), inDomain: false)
            }
        }
        if previousWasDot { throw .misplacedDot }
    }

    private static func checkQuotedString(_ local: UnsafeBufferPointer<UInt8>) throws(EmailAddressError) {
        guard local.count >= 2, local.last == UInt8(ascii: "\"") else { throw .unterminatedQuote }
        var index = 1
        let end = local.count - 1
        while index < end {
            let byte = local[index]
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < end, (32...126).contains(local[index]) else { throw .unterminatedQuote }
            } else if byte >= 0x80 {
                throw .nonASCIILocalPart
            } else if !(byte == 32 || byte == 33 || (35...91).contains(byte) || (93...126).contains(byte)) {
                throw .invalidCharacter(Character(Unicode.Scalar(byte)), inDomain: false)
            }
            index += 1
        }
    }

    private static func checkDomain(_ domain: UnsafeBufferPointer<UInt8>) throws(EmailAddressError) -> String {
        if domain.isEmpty { throw .emptyDomain }
        if domain.first == UInt8(ascii: "[") { throw .addressLiteral }
        if domain.count > maxDomain { throw .domainTooLong(domain.count) }
        var labels = 0
        var labelStart = 0
        var hasUppercase = false
        var hasNonASCII = false
        for index in 0...domain.count {
            if index == domain.count || domain[index] == UInt8(ascii: ".") {
                let length = index - labelStart
                if length == 0 { throw .emptyLabel }
                if length > maxLabel { throw .labelTooLong(length) }
                if domain[labelStart] == UInt8(ascii: "-") || domain[index - 1] == UInt8(ascii: "-") {
                    throw .hyphenAtLabelEdge
                }
                labels += 1
                labelStart = index + 1
                continue
            }
            let byte = domain[index]
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                break
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                hasUppercase = true
            case 0x80...:
                hasNonASCII = true
            default:
                throw .invalidCharacter(Character(Unicode.Scalar(byte)), inDomain: true)
            }
        }
        if labels < 2 { throw .singleLabelDomain }
        if hasNonASCII {
            guard let text = String(validating: domain, as: UTF8.self) else { throw .invalidUTF8 }
            for scalar in text.unicodeScalars where scalar.properties.generalCategory == .control
                || scalar.properties.isWhitespace {
                throw .invalidCharacter(Character(scalar), inDomain: true)
            }
            return text.lowercased()
        }
        let text = String(decoding: domain, as: UTF8.self)
        return hasUppercase ? text.lowercased() : text
    }

    @inline(__always)
    private static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
             UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
             UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

/// Why a text is not an acceptable address; `description` is the reason a user reads
/// next to the line of the list that held it.
public enum EmailAddressError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(Int)
    case missingAt
    case emptyLocalPart
    case localPartTooLong(Int)
    case misplacedDot
    case unterminatedQuote
    case nonASCIILocalPart
    case invalidCharacter(Character, inDomain: Bool)
    case emptyDomain
    case addressLiteral
    case domainTooLong(Int)
    case emptyLabel
    case labelTooLong(Int)
    case hyphenAtLabelEdge
    case singleLabelDomain
    case invalidUTF8

    public var description: String {
        switch self {
        case .empty: "empty address"
        case .tooLong(let n): "address is \(n) octets, more than 254"
        case .missingAt: "no @ in address"
        case .emptyLocalPart: "nothing before the @"
        case .localPartTooLong(let n): "local part is \(n) octets, more than 64"
        case .misplacedDot: "local part has a leading, trailing or doubled dot"
        case .unterminatedQuote: "quoted local part is not closed properly"
        case .nonASCIILocalPart: "local part has non-ASCII characters (needs SMTPUTF8)"
        case .invalidCharacter(let c, let inDomain):
            "character \(c.unicodeScalars.first.map { "U+" + String($0.value, radix: 16, uppercase: true) } ?? "?") (\(c.isLetter || c.isNumber || c.isPunctuation || c.isSymbol ? "'\(c)'" : "unprintable")) not allowed in the \(inDomain ? "domain" : "local part")"
        case .emptyDomain: "nothing after the @"
        case .addressLiteral: "address literals such as [192.0.2.1] are not accepted"
        case .domainTooLong(let n): "domain is \(n) octets, more than 255"
        case .emptyLabel: "domain has an empty label (leading, trailing or doubled dot)"
        case .labelTooLong(let n): "domain label is \(n) octets, more than 63"
        case .hyphenAtLabelEdge: "domain label starts or ends with a hyphen"
        case .singleLabelDomain: "domain has no dot"
        case .invalidUTF8: "domain is not valid UTF-8"
        }
    }
}
