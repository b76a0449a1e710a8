/// What a server offers in its EHLO reply (RFC 5321 §4.1.1.1): one keyword per line
/// after the first, with optional parameters.
public struct SMTPCapabilities: Sendable, Hashable {
    /// The domain the server named on the first line of its EHLO (or HELO) reply.
    public var serverName: String
    /// True when the session fell back to HELO: no extension is available.
    public var isExtended: Bool
    /// The SIZE limit in bytes; 0 means "SIZE offered, no fixed limit"; nil: not offered.
    public var size: Int?
    public var pipelining: Bool
    public var startTLS: Bool
    /// The SASL mechanisms offered with AUTH, upper-cased (`PLAIN`, `LOGIN`, …).
    public var authMechanisms: Set<String>
    public var eightBitMIME: Bool
    public var smtpUTF8: Bool
    public var enhancedStatusCodes: Bool
    public var chunking: Bool
    public var dsn: Bool
    /// Every keyword line as sent, for display (`salvo check-smtp`).
    public var keywords: [String]

    /// The capabilities of a server that answered HELO: none.
    public static func helo(serverName: String) -> SMTPCapabilities {
        SMTPCapabilities(
            serverName: serverName, isExtended: false, size: nil, pipelining: false, startTLS: false,
            authMechanisms: [], eightBitMIME: false, smtpUTF8: false, enhancedStatusCodes: false,
            chunking: false, dsn: false, keywords: []
        )
    }

    private init(
        serverName: String, isExtended: Bool, size: Int?, pipelining: Bool, startTLS: Bool,
        authMechanisms: Set<String>, eightBitMIME: Bool, smtpUTF8: Bool, enhancedStatusCodes: Bool,
        chunking: Bool, dsn: Bool, keywords: [String]
    ) {
        self.serverName = serverName
        self.isExtended = isExtended
        self.size = size
        self.pipelining = pipelining
        self.startTLS = startTLS
        self.authMechanisms = authMechanisms
        self.eightBitMIME = eightBitMIME
        self.smtpUTF8 = smtpUTF8
        self.enhancedStatusCodes = enhancedStatusCodes
        self.chunking = chunking
        self.dsn = dsn
        self.keywords = keywords
    }

    /// Reads the capabilities from a positive EHLO reply. Unknown keywords are kept in
    /// `keywords` and otherwise ignored; keywords are case-insensitive.
    public init(ehloReply reply: SMTPReply) {
        self = .helo(serverName: String(reply.lines[0].prefix { $0 != " " }))
        isExtended = true
        keywords = Array(reply.lines.dropFirst())
        for line in keywords {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let keyword = words.first?.uppercased() else { continue }
            let parameters = words.dropFirst()
            switch keyword {
            case "SIZE": size = parameters.first.flatMap { Int($0) } ?? 0
            case "PIPELINING": pipelining = true
            case "STARTTLS": startTLS = true
            case "AUTH": authMechanisms.formUnion(parameters.map { $0.uppercased() })
            // Old servers announce "AUTH=LOGIN PLAIN" as well as, or instead of, AUTH.
            case _ where keyword.hasPrefix("AUTH="):
                authMechanisms.formUnion(([keyword.dropFirst(5)] + parameters).map { $0.uppercased() })
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "ENHANCEDSTATUSCODES": enhancedStatusCodes = true
            case "CHUNKING": chunking = true
            case "DSN": dsn = true
            default: break
            }
        }
        authMechanisms.remove("")
    }
}
