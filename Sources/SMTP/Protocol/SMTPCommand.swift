import NIOCore

/// A command the client sends (RFC 5321 §4.1), ready to be written as one CRLF-ended line.
public enum SMTPCommand: Sendable, Hashable {
    case ehlo(String)
    case helo(String)
    case startTLS
    /// `AUTH PLAIN` with its initial response (RFC 4616), already base64-encoded.
    case authPlain(initialResponse: String)
    /// `AUTH LOGIN`, answered by the server with 334 prompts.
    case authLogin
    /// A base64 line answering a 334 challenge.
    case authResponse(String)
    /// `MAIL FROM:<…>` with the ESMTP parameters the server offered.
    case mail(from: String, size: Int?, eightBitMIME: Bool, smtpUTF8: Bool)
    case rcpt(to: String)
    case data
    case rset
    case noop
    case quit

    /// The command line as written on the wire, without CRLF.
    public var line: String {
        switch self {
        case .ehlo(let name): "EHLO \(name)"
        case .helo(let name): "HELO \(name)"
        case .startTLS: "STARTTLS"
        case .authPlain(let response): "AUTH PLAIN \(response)"
        case .authLogin: "AUTH LOGIN"
        case .authResponse(let response): response
        case .mail(let from, let size, let eightBitMIME, let smtpUTF8):
            "MAIL FROM:<\(from)>"
                + (size.map { " SIZE=\($0)" } ?? "")
                + (eightBitMIME ? " BODY=8BITMIME" : "")
                + (smtpUTF8 ? " SMTPUTF8" : "")
        case .rcpt(let to): "RCPT TO:<\(to)>"
        case .data: "DATA"
        case .rset: "RSET"
        case .noop: "NOOP"
        case .quit: "QUIT"
        }
    }

    /// The command as it may appear in an error message or a log: credentials are hidden.
    public var redacted: String {
        switch self {
        case .authPlain: "AUTH PLAIN ****"
        case .authResponse: "****"
        default: line
        }
    }

    /// Appends the command and its CRLF to `buffer`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString(line)
        buffer.writeStaticString("\r\n")
    }

    /// Whether a string can go between `<` and `>` of MAIL or RCPT: no line breaks, no
    /// angle brackets, no control characters. Anything else could inject a command.
    public static func isSafeAddress(_ address: String) -> Bool {
        address.utf8.allSatisfy { byte in
            byte >= 0x20 && byte != 0x7F && byte != UInt8(ascii: "<") && byte != UInt8(ascii: ">")
        } && address.utf8.count <= 512
    }
}
