import ArgumentParser
import Foundation
import MailMessage

/// `salvo dkim keygen`: makes a DKIM key and prints the DNS record to publish.
struct DKIMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim",
        abstract: "DKIM keys for signing outgoing mail.",
        subcommands: [Keygen.self]
    )

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a DKIM key, save it as PEM and print the TXT record to publish.",
            discussion: """
                The key is written with mode 0600 and never overwritten. Publish the printed \
                record at SELECTOR._domainkey.DOMAIN, then set dkim.domain, dkim.selector and \
                dkim.key in salvo.yml.
                """
        )

        @Option(help: "The signing domain (d=), usually the domain of the From address.")
        var domain: String

        @Option(help: "The selector (s=): the DNS name is SELECTOR._domainkey.DOMAIN.")
        var selector: String

        @Option(help: "rsa (rsa-sha256, 2048 bits, understood everywhere) or ed25519 (ed25519-sha256, RFC 8463).")
        var algorithm: DKIMKey.Algorithm = .rsa

        @Option(help: "Where to write the private key (default: keys/SELECTOR.pem).")
        var out: String?

        func run() throws {
            let path = out ?? "keys/\(selector).pem"
            if FileManager.default.fileExists(atPath: path) {
                throw KeygenFailure(message: "\(path) already exists; remove it or choose another --out")
            }
            let key = try DKIMKey.generate(algorithm)
            // Validates the domain and selector the same way signing will.
            let signer = try DKIMSigner(domain: domain, selector: selector, key: key)
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            guard FileManager.default.createFile(atPath: path, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw KeygenFailure(message: "cannot write \(path)")
            }
            print("wrote \(algorithm.rawValue) private key to \(path)")
            print("")
            print("publish this TXT record:")
            print("  name:  \(signer.selector)._domainkey.\(signer.domain)")
            print("  value: \(key.dnsRecord)")
            print("")
            print("zone file:")
            print("  \(key.zoneFileLine(selector: signer.selector, domain: signer.domain))")
            print("")
            print("salvo.yml:")
            print("  dkim:")
            print("    domain: \(signer.domain)")
            print("    selector: \(signer.selector)")
            print("    key: \(path)")
        }
    }
}

extension DKIMKey.Algorithm: ExpressibleByArgument {}

/// A keygen failure, printed as one line without the usage text.
private struct KeygenFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
