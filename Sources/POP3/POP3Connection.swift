import NIOCore
import NIOPosix
import NIOSSL
import MailClientSupport

/// One logged-in POP3 session over implicit TLS: connect returns once the greeting,
/// CAPA, USER and PASS are done; then one request at a time, then QUIT.
final class POP3Connection: Sendable {
    let server: String
    let capabilities: POP3Capabilities
    private let channel: any Channel
    private let handler: NIOLoopBound<POP3ChannelHandler>

    private init(server: String, capabilities: POP3Capabilities, channel: any Channel, handler: NIOLoopBound<POP3ChannelHandler>) {
        self.server = server
        self.capabilities = capabilities
        self.channel = channel
        self.handler = handler
    }

    /// A connection dropped without `quit()` still closes its socket (and the server
    /// then deletes nothing, RFC 1939 §6).
    deinit {
        channel.close(promise: nil)
    }

    /// Connects to `url` over TLS, verifying the certificate against `caFile` or the
    /// system trust store and the host name, and logs in. Throws `POP3Error`.
    static func connect(
        url: POP3URL,
        password: String,
        caFile: String?,
        timeouts: POP3Timeouts,
        limits: POP3SessionStateMachine.Limits,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> POP3Connection {
        let server = url.server
        let context: NIOSSLContext
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            tls.certificateVerification = .fullVerification
            if let caFile { tls.trustRoots = .file(caFile) }
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw POP3Error(.tlsHandshakeFailed, detail: "cannot set up TLS with \(caFile.map { "CA file \($0)" } ?? "the system trust store"): \(error)", server: server)
        }
        // SNI and the name check use the host name; for an address NIOSSL checks the
        // certificate's IP entries against the peer's address.
        let serverHostname = (try? SocketAddress(ipAddress: url.host, port: 0)) == nil ? url.host : nil
        let trust = caFile.map { "CA file \($0)" } ?? "the system trust store"

        let eventLoop = eventLoopGroup.next()
        let setupPromise = eventLoop.makePromise(of: POP3Capabilities.self)
        let stateMachine = POP3SessionStateMachine(user: url.user, password: password, limits: limits)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeouts.connect)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                    let handler = POP3ChannelHandler(stateMachine: stateMachine, server: server, timeouts: timeouts, setupPromise: setupPromise)
                    try channel.pipeline.syncOperations.addHandlers([tlsHandler, handler])
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }

        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: url.host, port: url.port).get()
        } catch {
            setupPromise.fail(error)
            if case ChannelError.connectTimeout = error {
                throw POP3Error(.connectTimeout, detail: "no connection within \(timeouts.connect)", server: server)
            }
            throw POP3Error(.connectFailed, detail: ConnectFailure.describe(error), server: server)
        }
        let capabilities: POP3Capabilities
        do {
            capabilities = try await setupPromise.futureResult.get()
        } catch var error as POP3Error {
            channel.close(promise: nil)
            if error.code == .tlsHandshakeFailed { error.detail = describeTLSFailure(error.detail ?? "", host: url.host, trust: trust) }
            throw error
        } catch {
            channel.close(promise: nil)
            throw error
        }
        let handler = try await channel.eventLoop.submit {
            try NIOLoopBound(channel.pipeline.syncOperations.handler(type: POP3ChannelHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return POP3Connection(server: server, capabilities: capabilities, channel: channel, handler: handler)
    }

    /// Runs one request. Throws `POP3Error`; after `commandRefused` the session is still
    /// usable, after any other error it is closed.
    func run(_ request: POP3SessionStateMachine.Request) async throws -> POP3SessionStateMachine.Outcome {
        let promise = channel.eventLoop.makePromise(of: POP3SessionStateMachine.Outcome.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.request(request, promise: promise) }
        return try await promise.futureResult.get()
    }

    /// Says QUIT and waits for `+OK`, which is when the server deletes what was marked.
    /// Throws `POP3Error` (`quitFailed`) when that acknowledgement did not come.
    func quit() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute { handler.value.quit(promise: promise) }
        defer { channel.close(promise: nil) }
        try await promise.futureResult.get()
    }

    /// Closes without QUIT: nothing marked for deletion is deleted.
    func close() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close() }
        try? await channel.closeFuture.get()
    }

    /// BoringSSL's reasons are codes inside long error dumps; say what they mean first.
    private static func describeTLSFailure(_ detail: String, host: String, trust: String) -> String {
        if detail.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the server's certificate did not verify against \(trust) (is a CA file needed?)"
        }
        if detail.contains("failedToValidateHostname") {
            return "the server's certificate does not name \(host) (checked against \(trust))"
        }
        return "\(detail) (certificate checked against \(trust))"
    }
}
