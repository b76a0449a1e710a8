import Delivery
import Foundation
import MailMessage

/// Whether the DKIM key record at `SELECTOR._domainkey.DOMAIN` publishes the public half
/// of the configured signing key (RFC 6376 §3.6.1, RFC 8463 §4.2).
public enum DKIMRecordCheck {
    /// - Parameters:
    ///   - answer: the TXT lookup of `name`.
    ///   - key: the configured key, or the reason it could not be loaded.
    public static func finding(name: String, answer: Result<[String], DNSLookupError>,
                               key: Result<DKIMKey, DKIMKeyError>) -> DoctorFinding {
        let wanted: DKIMKey
        switch key {
        case .success(let loaded): wanted = loaded
        case .failure(let error): return DoctorFinding(.fail, "DKIM", "\(error)", fix: "make one with salvo dkim keygen, then publish the record it prints")
        }
        let publish = "publish \(name) TXT \"\(wanted.dnsRecord)\""
        let records: [String]
        switch answer {
        case .success(let texts): records = texts
        case .failure(let error) where error.isTemporary:
            return DoctorFinding(.warn, "DKIM", "\(name): \(error)")
        case .failure:
            return DoctorFinding(.fail, "DKIM", "\(name) has no TXT record: receivers cannot verify the signatures", fix: publish)
        }
        // A key record may leave out v=; when present it must be first and DKIM1.
        let keyRecords = records.compactMap { text -> (String, DNSTagList?)? in
            let list = DNSTagList(text)
            if let version = list?.tags.first, version.name == "v", version.value != "DKIM1" { return nil }
            if list == nil, !text.lowercased().contains("p=") { return nil }
            return (text, list)
        }
        guard !keyRecords.isEmpty else {
            return DoctorFinding(.fail, "DKIM", "\(name) has TXT records but no DKIM key (v=DKIM1; p=…)", fix: publish)
        }
        guard keyRecords.count == 1 else {
            return DoctorFinding(.fail, "DKIM", "\(name) has \(keyRecords.count) DKIM key records: verifiers may take either", fix: publish + ", and only that one")
        }
        guard let tags = keyRecords[0].1, let p = tags["p"] else {
            return DoctorFinding(.fail, "DKIM", "\(name): the record is not a valid tag list with p=: \"\(keyRecords[0].0)\"", fix: publish)
        }
        let published = p.filter { !$0.isWhitespace }
        if published.isEmpty {
            return DoctorFinding(.fail, "DKIM", "\(name): the key is revoked (empty p=)", fix: publish)
        }
        let keyType = (tags["k"] ?? "rsa").lowercased()
        guard keyType == wanted.algorithm.rawValue else {
            return DoctorFinding(.fail, "DKIM", "\(name) publishes a k=\(keyType) key; the configured key is \(wanted.algorithm.rawValue)", fix: publish)
        }
        guard let bytes = Data(base64Encoded: published), bytes == Data(base64Encoded: wanted.publicKeyBase64) else {
            return DoctorFinding(.fail, "DKIM", "\(name): p= is not the public half of the configured \(wanted.algorithm.rawValue) key", fix: publish)
        }
        if let flags = tags["t"], flags.split(separator: ":").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "y" }) {
            return DoctorFinding(.warn, "DKIM", "\(name) has the configured \(wanted.algorithm.rawValue) key, but t=y (testing): verifiers may ignore failures",
                                 fix: publish)
        }
        return DoctorFinding(.ok, "DKIM", "\(name) has the configured \(wanted.algorithm.rawValue) key")
    }
}
