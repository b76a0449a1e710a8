import ArgumentParser
import Foundation
import SMTP

/// `salvo check-smtp HOST[:PORT]`: greeting, EHLO capabilities and TLS of a server.
struct CheckSMTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-smtp",
        abstract: "Show a server's greeting, EHLO capabilities, TLS version, cipher and certificate.",
        discussion: """
            An unverified certificate is reported, not fatal. A server that sends plaintext \
            after agreeing to STARTTLS (command injection) is refused. The EHLO name is \
            --helo, else `helo` in the configuration, else this host's name.

            Examples:
              salvo check-smtp smtp.provider.example:587 --starttls
              salvo check-smtp 127.0.0.1:2525
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The server, as HOST, HOST:PORT or [IPv6]:PORT (port 25, or 465 with --implicit-tls).")
    var server: String

    @Flag(help: "Start TLS with STARTTLS; fail if the server does not offer it.")
    var starttls = false

    @Flag(help: "TLS from the first byte (port 465).")
    var implicitTLS = false

    @Option(help: "PEM file of CA certificates to verify against instead of the system store.")
    var caFile: String?

    @Option(help: "The name to say in EHLO (default: this host's name).")
    var helo: String?

    @Option(help: "Seconds to wait for the connection and for each reply.")
    var timeout: Int = 30

    func validate() throws {
        if starttls && implicitTLS { throw ValidationError("--starttls and --implicit-tls exclude each other") }
        if SMTPProbe.parseAddress(server, defaultPort: 25) == nil { throw ValidationError("'\(server)' is not HOST[:PORT]") }
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    }

    func run() async throws {
        let (host, port) = SMTPProbe.parseAddress(server, defaultPort: implicitTLS ? 465 : 25)!
        let configuration = SMTPConfiguration(
            heloName: try helo ?? global.configuration().helo ?? ProcessInfo.processInfo.hostName,
            tls: implicitTLS ? .implicit : starttls ? .required : .none,
            certificateVerification: .recordOnly,
            caFile: caFile,
            timeouts: .uniform(.seconds(Int64(timeout)))
        )
        do {
            let probe = try await SMTPProbe.run(host: host, port: port, configuration: configuration)
            print(probe.report)
        } catch {
            FileHandle.standardError.write(Data("salvo check-smtp: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
