import Crypto
import Foundation

/// Signs messages with DKIM (RFC 6376), relaxed/relaxed, rsa-sha256 or
/// ed25519-sha256 (RFC 8463) depending on the key.
///
/// One signer serves a whole campaign: per message it hashes the body once, hashes
/// the signed headers once and makes one signature.
public struct DKIMSigner: Sendable {
    /// The headers signed when present, in this order.
    public static let defaultSignedHeaders = [
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
        "List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To", "List-Id", "Feedback-ID",
    ]
    /// Headers named once more in `h=` than they occur, so a second copy added on the
    /// way (a forged From or Reply-To, a rogue List-Unsubscribe, a Content-Type that
    /// re-reads the body) breaks the signature (RFC 6376 §8.15).
    public static let defaultOversignedHeaders = [
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
        "List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To", "List-Id",
    ]

    public let domain: String
    public let selector: String
    public let key: DKIMKey
    public let signedHeaders: [String]
    public let oversignedHeaders: [String]

    /// - Parameters:
    ///   - domain: the `d=` domain (ASCII or Unicode; written as punycode).
    ///   - selector: the `s=` selector.
    public init(
        domain: String, selector: String, key: DKIMKey,
        signedHeaders: [String] = DKIMSigner.defaultSignedHeaders,
        oversignedHeaders: [String] = DKIMSigner.defaultOversignedHeaders
    ) throws(DKIMSignerError) {
        guard let asciiDomain = try? Punycode.toASCII(domain: domain), !asciiDomain.isEmpty,
              asciiDomain.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ";") })
        else { throw .invalidDomain(domain) }
        guard !selector.isEmpty,
              selector.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") })
        else { throw .invalidSelector(selector) }
        self.domain = asciiDomain
        self.selector = selector
        self.key = key
        self.signedHeaders = signedHeaders
        self.oversignedHeaders = oversignedHeaders
    }

    /// The DKIM-Signature field for `message`, signed at `time` (the `t=` tag).
    public func signature(for message: SerializedMessage, at time: Date) throws(DKIMSignerError) -> HeaderField {
        let bodyHash = RelaxedCanonicalization.bodyHash(message.body)

        // Which fields, in h= order. Each name in h= selects the next instance from the
        // bottom; Salvo writes each field once, so that is the one instance.
        var names: [String] = []
        var selected: [HeaderField] = []
        for name in signedHeaders {
            if let field = message.header(name) {
                names.append(name)
                selected.append(field)
            }
        }
        for name in oversignedHeaders where names.contains(where: { $0.equalsIgnoringASCIICase(name) }) {
            names.append(name)
        }

        var folder = HeaderFolder(name: "DKIM-Signature")
        folder.append("v=1;")
        folder.append("a=\(key.signatureAlgorithm);")
        folder.append("c=relaxed/relaxed;")
        folder.append("d=\(domain);")
        folder.append("s=\(selector);")
        folder.append("t=\(Int(time.timeIntervalSince1970));")
        let lowered = names.map { $0.lowercased() }
        for (index, name) in lowered.enumerated() {
            // FWS is allowed around the colons of h= (RFC 6376 §3.5), so the list
            // folds after any colon.
            let last = index == lowered.count - 1
            folder.append((index == 0 ? "h=" : "") + name + (last ? ";" : ":"))
        }
        folder.append("bh=\(Base64.encode(Array(bodyHash)));")
        folder.append("b=")
        let unsignedValue = folder.value

        var data: [UInt8] = []
        data.reserveCapacity(selected.count * 100 + 400)
        for field in selected {
            RelaxedCanonicalization.header(name: field.name, value: field.value, into: &data)
            data.append(13)
            data.append(10)
        }
        RelaxedCanonicalization.header(name: "DKIM-Signature", value: unsignedValue, into: &data)

        let signature: [UInt8]
        do { signature = try key.sign(data) } catch { throw .signingFailed(String(describing: error)) }
        let encoded = Array(Base64.encode(signature).utf8)
        // Fold the signature to the line length; whitespace inside b= is ignored.
        var value = unsignedValue
        let lastLine = unsignedValue.utf8.count - (unsignedValue.utf8.lastIndex(of: 10).map { unsignedValue.utf8.distance(from: unsignedValue.utf8.startIndex, to: $0) + 1 } ?? -("DKIM-Signature:".utf8.count))
        var room = HeaderFolder.preferredLineLength - lastLine
        var start = 0
        while start < encoded.count {
            if room < 8 {
                value += "\r\n "
                room = HeaderFolder.preferredLineLength - 1
            }
            let end = min(start + room, encoded.count)
            value += String(decoding: encoded[start..<end], as: UTF8.self)
            room -= end - start
            start = end
        }
        return HeaderField(name: "DKIM-Signature", value: value)
    }

    /// `message` with its DKIM-Signature field first: the exact bytes to send.
    public func sign(_ message: SerializedMessage, at time: Date) throws(DKIMSignerError) -> SerializedMessage {
        var signed = message
        signed.headers.insert(try signature(for: message, at: time), at: 0)
        return signed
    }
}

/// Why a signer could not be made or a message signed.
public enum DKIMSignerError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidDomain(String)
    case invalidSelector(String)
    case signingFailed(String)

    public var description: String {
        switch self {
        case .invalidDomain(let domain): "dkim.domain \(domain.debugDescription) is not a domain name"
        case .invalidSelector(let selector): "dkim.selector \(selector.debugDescription) must be letters, digits, '-', '_' or '.'"
        case .signingFailed(let reason): "DKIM signing failed: \(reason)"
        }
    }
}
