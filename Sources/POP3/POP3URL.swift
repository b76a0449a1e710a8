import Foundation
/// Where a bounce mailbox is: `pop3s://USER@HOST[:PORT]`.
///
/// Only `pop3s://` (implicit TLS, RFC 8314) is accepted: the password goes out with PASS,
/// and a mailbox reader that fell back to clear text would hand it to anyone on the path.
/// The user may be percent-encoded (`bounces%40shop.example` for `bounces@shop.example`).
/// The password never appears in the address; it comes from the environment.
public struct POP3URL: Sendable, Hashable, CustomStringConvertible {
    /// POP3 over TLS (RFC 8314 §3.3 / RFC 2595).
    public static let defaultPort = 995

    public var user: String
    /// A host name or an IP address (IPv6 without brackets).
    public var host: String
    public var port: Int

    public init(user: String, host: String, port: Int = POP3URL.defaultPort) {
        self.user = user
        self.host = host
        self.port = port
    }

    /// Parses `pop3s://USER@HOST[:PORT]`; the error says what is wrong with the address.
    public init(_ string: String) throws(POP3Error) {
        func invalid(_ why: String) -> POP3Error {
            POP3Error(.invalidURL, detail: "\(why) in \"\(string)\" (expected pop3s://USER@HOST[:PORT])")
        }
        guard let schemeEnd = string.range(of: "://") else { throw invalid("no scheme") }
        let scheme = string[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "pop3s" else {
            if scheme == "pop3" {
                throw invalid("pop3:// would send the password in clear text; use pop3s:// (TLS, port 995)")
            }
            throw invalid("scheme \"\(scheme)\" is not pop3s")
        }
        var rest = string[schemeEnd.upperBound...]
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("?"), !rest.contains("#") else {
            throw invalid("a path, query or fragment has no meaning for a POP3 mailbox")
        }
        // The last "@" ends the user part: an unencoded "@" in the user is forgiven.
        guard let at = rest.lastIndex(of: "@") else { throw invalid("no user (USER@ before the host)") }
        let userPart = rest[..<at]
        let hostPart = rest[rest.index(after: at)...]
        guard !userPart.contains(":") else {
            throw invalid("a password in the address; give it in the environment (SALVO_POP3_PASSWORD) instead")
        }
        guard let user = Self.percentDecoded(userPart), !user.isEmpty else {
            throw invalid("the user is empty or badly percent-encoded")
        }
        guard !user.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw invalid("the user contains control characters")
        }

        var host: Substring
        var portText: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw invalid("an IPv6 address without its closing \"]\"") }
            host = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
            let after = hostPart[hostPart.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPart.firstIndex(of: ":") {
            host = hostPart[..<colon]
            portText = hostPart[hostPart.index(after: colon)...]
        } else {
            host = hostPart
        }
        guard !host.isEmpty else { throw invalid("no host") }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || "-._:".contains($0) }) else {
            throw invalid("the host \"\(host)\" has characters a host name cannot have")
        }
        var port = Self.defaultPort
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw invalid("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            port = number
        }
        self.init(user: user, host: String(host), port: port)
    }

    /// `host:port` (IPv6 in brackets), as errors show the server.
    public var server: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The address without a password (there never is one), user percent-encoded.
    public var description: String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".utf8)
        let encodedUser = user.utf8.map { allowed.contains($0) ? String(UnicodeScalar($0)) : "%" + Self.hex($0) }.joined()
        return "pop3s://\(encodedUser)@\(server)"
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }

    /// RFC 3986 percent-decoding; nil for a bad escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        // A lossy decode that changed the bytes means they were not UTF-8.
        let decoded = String(decoding: bytes, as: UTF8.self)
        return Array(decoded.utf8) == bytes ? decoded : nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
