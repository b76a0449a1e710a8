import NIOCore
import NIOPosix

/// A mail admin's first look at a server: connect, greet, EHLO, optionally TLS, and
/// report what was seen. `salvo check-smtp` prints its `report`.
public struct SMTPProbe: Sendable {
    public var server: String
    public var greeting: SMTPReply
    public var capabilities: SMTPCapabilities
    public var tls: SMTPTLSInfo?
    public var startTLSWasRefused: Bool

    /// Probes `host:port`. TLS problems with the certificate are recorded, not fatal;
    /// an unsafe STARTTLS exchange (injection) or a refused connection throws.
    public static func run(host: String, port: Int, configuration: SMTPConfiguration,
                           eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SMTPProbe {
        var configuration = configuration
        configuration.certificateVerification = .recordOnly
        let connection = try await SMTPConnection.connect(host: host, port: port, configuration: configuration, eventLoopGroup: eventLoopGroup)
        let probe = SMTPProbe(server: connection.server, greeting: connection.greeting, capabilities: connection.capabilities,
                              tls: connection.tls, startTLSWasRefused: connection.startTLSWasRefused)
        await connection.quit()
        return probe
    }

    /// Parses `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`.
    public static func parseAddress(_ text: String, defaultPort: Int) -> (host: String, port: Int)? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return host.isEmpty ? nil : (host, defaultPort) }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else { return nil }
            return (host, port)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return text.isEmpty ? nil : (text, defaultPort)
        case 2:
            guard !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
            return (String(parts[0]), port)
        default:
            return (text, defaultPort) // a bare IPv6 address
        }
    }

    /// The probe as lines of text, for a terminal or a log.
    public var report: String {
        var lines = ["server:       \(server)", "greeting:     \(greeting.description.split(separator: "\n").joined(separator: " / "))"]
        lines.append("server name:  \(capabilities.serverName)\(capabilities.isExtended ? "" : " (HELO only, no ESMTP)")")
        lines.append("capabilities:")
        lines += capabilities.keywords.filter { !$0.isEmpty }.map { "  \($0)" }
        if let tls {
            lines.append("tls:          \(tls.version)\(tls.implicit ? " (implicit)" : " (STARTTLS)")")
            lines.append("cipher:       \(tls.cipher ?? "unknown")")
            if let certificate = tls.peerCertificate {
                lines.append("certificate:  CN=\(certificate.commonName ?? "(none)")")
                if !certificate.alternativeNames.isEmpty {
                    lines.append("  names:      \(certificate.alternativeNames.joined(separator: ", "))")
                }
                lines.append("  serial:     \(certificate.serialNumber)")
                lines.append("  valid:      \(Self.date(certificate.notValidBefore)) to \(Self.date(certificate.notValidAfter))")
            }
            lines.append("verified:     \(tls.verified ? "yes" : "no (\(tls.verificationFailure ?? "unknown reason"))")")
        } else {
            lines.append("tls:          none\(startTLSWasRefused ? " (server refused STARTTLS)" : "")")
        }
        return lines.joined(separator: "\n")
    }

    /// A UTC date as `2026-11-25`, computed without Foundation.
    static func date(_ seconds: Int) -> String {
        // Howard Hinnant's days-from-civil inverse.
        let z = seconds / 86_400 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(year)-\(two(month))-\(two(day))"
    }
}
