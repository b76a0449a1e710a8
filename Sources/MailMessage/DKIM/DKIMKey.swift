import Crypto
import _CryptoExtras
import Foundation

/// A DKIM signing key: RSA (rsa-sha256, RFC 6376) or Ed25519 (ed25519-sha256,
/// RFC 8463).
public enum DKIMKey: Sendable {
    case rsa(_RSA.Signing.PrivateKey)
    case ed25519(Curve25519.Signing.PrivateKey)

    public enum Algorithm: String, Sendable, CaseIterable {
        case rsa
        case ed25519
    }

    /// A new key: RSA is 2048 bits, the size mailbox providers expect and the largest
    /// whose public key fits a single DNS TXT string comfortably.
    public static func generate(_ algorithm: Algorithm) throws -> DKIMKey {
        switch algorithm {
        case .rsa: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .ed25519: .ed25519(Curve25519.Signing.PrivateKey())
        }
    }

    /// Loads a PEM private key: RSA as PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8
    /// (`BEGIN PRIVATE KEY`), Ed25519 as PKCS#8.
    public init(pem: String) throws(DKIMKeyError) {
        if let key = try? Curve25519.Signing.PrivateKey(pemRepresentation: pem) {
            self = .ed25519(key)
            return
        }
        do {
            self = .rsa(try _RSA.Signing.PrivateKey(pemRepresentation: pem))
        } catch {
            throw DKIMKeyError.unreadable(String(describing: error))
        }
    }

    /// Loads a PEM file; errors name the file.
    public init(contentsOfFile path: String) throws(DKIMKeyError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        do {
            try self.init(pem: String(decoding: data, as: UTF8.self))
        } catch .unreadable(let reason) {
            throw .unreadableFile(path, reason)
        } catch {
            throw error
        }
    }

    public var algorithm: Algorithm {
        switch self {
        case .rsa: .rsa
        case .ed25519: .ed25519
        }
    }

    /// The `a=` tag value.
    var signatureAlgorithm: String {
        switch self {
        case .rsa: "rsa-sha256"
        case .ed25519: "ed25519-sha256"
        }
    }

    /// The private key as PEM (PKCS#8), to save with mode 0600.
    public var pemRepresentation: String {
        switch self {
        case .rsa(let key): key.pkcs8PEMRepresentation
        case .ed25519(let key): key.pemRepresentation
        }
    }

    /// The `p=` value: base64 of the SubjectPublicKeyInfo for RSA, of the raw
    /// 32-byte public key for Ed25519 (RFC 8463 §4.2).
    public var publicKeyBase64: String {
        switch self {
        case .rsa(let key): Base64.encode(Array(key.publicKey.derRepresentation))
        case .ed25519(let key): Base64.encode(Array(key.publicKey.rawRepresentation))
        }
    }

    /// The TXT record to publish at `selector._domainkey.domain`.
    public var dnsRecord: String {
        "v=DKIM1; k=\(algorithm.rawValue); p=\(publicKeyBase64)"
    }

    /// The record as a zone-file line, its value split into the 255-octet strings a
    /// TXT record is made of.
    public func zoneFileLine(selector: String, domain: String) -> String {
        let record = Array(dnsRecord.utf8)
        var strings: [String] = []
        var start = 0
        while start < record.count {
            let end = min(start + 255, record.count)
            strings.append("\"" + String(decoding: record[start..<end], as: UTF8.self) + "\"")
            start = end
        }
        return "\(selector)._domainkey.\(domain). IN TXT ( \(strings.joined(separator: " ")) )"
    }

    /// Signs `data` (canonicalised header fields) as the key's DKIM algorithm does.
    public func sign(_ data: [UInt8]) throws -> [UInt8] {
        switch self {
        case .rsa(let key):
            let digest = SHA256.hash(data: data)
            return Array(try key.signature(for: digest, padding: .insecurePKCS1v1_5).rawRepresentation)
        case .ed25519(let key):
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalised data.
            let digest = SHA256.hash(data: data)
            return Array(try key.signature(for: Array(digest)))
        }
    }
}

/// Why a DKIM key could not be loaded.
public enum DKIMKeyError: Error, Hashable, Sendable, CustomStringConvertible {
    case missingFile(String)
    case unreadable(String)
    case unreadableFile(String, String)

    public var description: String {
        switch self {
        case .missingFile(let path): "DKIM key file \(path) does not exist or cannot be read"
        case .unreadable(let reason): "DKIM key is neither an Ed25519 PKCS#8 key nor an RSA key of 2048 bits or more (\(reason))"
        case .unreadableFile(let path, let reason): "DKIM key file \(path) is neither an Ed25519 PKCS#8 key nor an RSA key of 2048 bits or more (\(reason))"
        }
    }
}
