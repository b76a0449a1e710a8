import NIOSSL

/// What TLS protects a session with, and what the server proved about itself.
public struct SMTPTLSInfo: Sendable, Hashable {
    /// `TLSv1.3`, `TLSv1.2`, …
    public var version: String
    /// The negotiated cipher suite (`TLS_AES_256_GCM_SHA384`), read from the ServerHello;
    /// nil when it could not be read.
    public var cipher: String?
    public var peerCertificate: SMTPPeerCertificate?
    /// True when the chain verified against the trust roots and the certificate names
    /// the server. Always true under `CertificateVerification.verify` (or the handshake
    /// fails); under `.recordOnly` it records what verification would have said.
    public var verified: Bool
    /// Why verification failed, when it did.
    public var verificationFailure: String?
    /// True for implicit TLS (port 465), false after STARTTLS.
    public var implicit: Bool
}

/// The server certificate, summarised for logs and `salvo check-smtp`.
public struct SMTPPeerCertificate: Sendable, Hashable {
    /// The subject's common name, if any.
    public var commonName: String?
    /// DNS names and IP addresses from subjectAltName.
    public var alternativeNames: [String]
    public var serialNumber: String
    /// Seconds since 1970.
    public var notValidBefore: Int
    public var notValidAfter: Int

    init(_ certificate: NIOSSLCertificate) {
        // NIOSSL exposes the common name only through `description`.
        let fields = certificate.description.dropFirst().dropLast().split(separator: ";")
        func field(_ name: String) -> String? {
            fields.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        commonName = field("common_name")
        alternativeNames = field("alternative_names").map { $0.split(separator: ",").map(String.init) } ?? []
        serialNumber = certificate.serialNumber.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        notValidBefore = Int(certificate.notValidBefore)
        notValidAfter = Int(certificate.notValidAfter)
    }

    /// Whether the certificate names `host` (RFC 6125: subjectAltName only when present,
    /// one left-most wildcard label).
    func names(_ host: String) -> Bool {
        let host = host.lowercased()
        let names = alternativeNames.isEmpty ? [commonName].compactMap { $0 } : alternativeNames
        return names.contains { name in
            let name = name.lowercased()
            if name == host { return true }
            guard name.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
            return host[dot...] == name.dropFirst()
        }
    }
}

extension TLSVersion {
    var name: String {
        switch self {
        case .tlsv1: "TLSv1.0"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }
}
