/// The mailto half of List-Unsubscribe (RFC 2369, RFC 8058 §3.2): a mail to
/// `unsubscribe.mailto` whose Subject is `unsubscribe TOKEN`, TOKEN being the
/// recipient's `UnsubscribeToken`. A mail client sends it as the URI says; the token
/// names the recipient, so the request is honoured for the address that was mailed,
/// whatever From the reply carries (a forwarding alias, a second account).
///
/// Both directions live here, so the header Salvo writes and the reading of what comes
/// back (`salvo bounces import`) cannot drift apart.
public enum UnsubscribeMailto {
    /// The word that starts the subject.
    public static let keyword = "unsubscribe"

    /// `unsubscribe TOKEN`, or `unsubscribe` without a token.
    public static func subject(token: String?) -> String {
        guard let token, !token.isEmpty else { return keyword }
        return keyword + " " + token
    }

    /// The `?subject=…` of the mailto URI, percent-encoded as RFC 6068 §2 asks of an
    /// hfvalue: everything but the unreserved characters, so the space is `%20` and a
    /// token of any form cannot end the URI or the header.
    public static func query(token: String?) -> String {
        "?subject=" + percentEncoded(subject(token: token))
    }

    /// What a Subject asks for: nil when it is not an unsubscribe request at all; a
    /// request with `token` nil when it says `unsubscribe` and nothing more.
    ///
    /// Mail clients may prefix a reply marker (`Re:`, `AW:`, `Fwd:`), so any run of
    /// words ending in a colon before the keyword is passed over; the keyword compares
    /// case-insensitively; the token is the next word, as written (it is verified
    /// by the caller, which holds the secret).
    public static func request(inSubject subject: String) -> Request? {
        var words = subject.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })[...]
        while let first = words.first, first.hasSuffix(":") { words = words.dropFirst() }
        guard let first = words.first, first.lowercased() == keyword else { return nil }
        words = words.dropFirst()
        guard let token = words.first else { return Request(token: nil) }
        // A subject that goes on after the token was not written from our URI.
        guard words.count == 1 else { return nil }
        return Request(token: String(token))
    }

    public struct Request: Sendable, Equatable {
        /// The token the subject carries, unverified.
        public var token: String?

        public init(token: String?) { self.token = token }
    }

    static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
