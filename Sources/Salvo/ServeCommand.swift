import ArgumentParser
import Campaigns
import Foundation
import Logging
import ServiceLifecycle
import Web

/// `salvo serve`: the endpoints the links in sent mail lead to, until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Answer the links in sent mail: one-click unsubscribe (RFC 8058) and its pages, tracked links, the open pixel and view in browser, until SIGTERM or SIGINT.",
        discussion: """
            Listens on web.listen (default 127.0.0.1:8080) behind a reverse proxy that \
            terminates TLS for web.public_url. The tokens are checked with the secret in \
            the variable unsubscribe.secret_env names. Example:

              SALVO_UNSUBSCRIBE_SECRET=… salvo serve --listen 127.0.0.1:8080
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("host:port to listen on (default: web.listen, else 127.0.0.1:8080).", valueName: "HOST:PORT"))
    var listen: String?

    /// How long a request waits for a PostgreSQL connection before it is answered 503:
    /// well inside the time a mailbox provider gives a one-click POST, which it retries.
    static let connectionWait: Duration = .seconds(10)

    func run() async throws {
        try await global.withDatabase(connectionWait: Self.connectionWait) { configuration, opened in
            try await serve(configuration, store: opened.store)
        }
    }

    /// Serves until SIGTERM or SIGINT; the store is closed by the caller afterwards, with
    /// every request's write committed.
    private func serve(_ configuration: SalvoConfiguration, store: any SalvoDatabase) async throws {
        var endpoint = configuration.web.listen
        if let listen {
            guard let parsed = SalvoConfiguration.Endpoint(listen, defaultPort: 8080) else {
                throw ValidationError("--listen '\(listen)' is not host:port (such as 127.0.0.1:8080)")
            }
            endpoint = parsed
        }
        let variable = configuration.unsubscribe.secretEnv
        guard let secret = ProcessInfo.processInfo.environment[variable], !secret.isEmpty else {
            throw ValidationError("\(variable) is not set: export the unsubscribe secret the campaigns' tokens were made with (unsubscribe.secret_env names the variable)")
        }
        var logger = Logger(label: "salvo.web")
        logger.logLevel = .info
        let settings = WebSettings(host: endpoint.host, port: endpoint.port, publicURL: configuration.web.publicURL, secret: Array(secret.utf8))
        var server = WebServer(settings: settings, store: store, logger: logger)
        server.messages = DeliveryMessages(store: store, configuration: configuration)
        let host = endpoint.host
        let service = server.service { port in
            let shown = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            printNow("listening on http://\(shown) for \(configuration.web.publicURL ?? "links to /u/TOKEN")")
        }
        let group = ServiceGroup(configuration: .init(
            services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        printNow("stopped")
    }
}
