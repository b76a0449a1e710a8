import Logging
import MailClientSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Numbers connections in logs (`smtp_connection_id`), process-wide.
private let nextConnectionID = NIOLockedValueBox(0)

/// One SMTP session with one server, ready for transactions.
///
/// `connect` returns once the greeting, EHLO, TLS and AUTH are done, so a connection you
/// hold is either usable or tells you it is not (`isUsable`). Transactions run one at a
/// time; a connection is meant to be pooled and reused:
///
/// ```swift
/// let connection = try await SMTPConnection.connect(host: "127.0.0.1", port: 2525,
///                                                  configuration: .mx(heloName: "mail.shop.example"))
/// let result = try await connection.send(SMTPTransaction(mailFrom: "news@shop.example",
///                                                        recipients: ["a@example.test"], message: bytes))
/// await connection.quit()
/// ```
///
/// `send` throws only when the session itself failed (timeout, connection lost, 421 before
/// the transaction started); refused recipients are outcomes, not errors. A thrown
/// `SMTPError` with code `.connectionClosedAfterData` means the message may have been
/// delivered.
public final class SMTPConnection: Sendable {
    /// `host:port`, as used in errors and logs.
    public let server: String
    /// The server's 220 greeting.
    public let greeting: SMTPReply
    /// The capabilities of the last EHLO (after STARTTLS when TLS was started).
    public let capabilities: SMTPCapabilities
    /// TLS in use, nil for a clear-text session: the version, the cipher, the certificate
    /// and whether it verified, for the caller to record with each attempt.
    public let tls: SMTPTLSInfo?
    /// The negotiated TLS version (`TLSv1.3`), nil in clear text.
    public var tlsVersion: String? { tls?.version }
    /// Whether the server's certificate verified (chain and name), nil in clear text.
    /// Always true when verification was required (`CertificateVerification.verify`);
    /// under `.recordOnly` (opportunistic or `required` towards an MX) it says what
    /// verification would have found.
    public var certificateVerified: Bool? { tls?.verified }
    /// True when opportunistic TLS was refused by the server (454) and the session went
    /// on in clear text.
    public let startTLSWasRefused: Bool
    /// The local IP address the connection was made from (the egress address the server
    /// sees), for the caller to record with each attempt.
    public let localAddress: String?

    private let channel: Channel
    private let handler: NIOLoopBound<SMTPChannelHandler>
    private let status: NIOLockedValueBox<SMTPConnectionStatus>
    private let logger: Logger

    /// The event loop the connection's I/O runs on. An actor that uses this loop as its
    /// executor (`unownedExecutor`) drives the connection without a thread hop per
    /// transaction; pass the same loop as `eventLoopGroup` to `connect`.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Set when opportunistic TLS was tried and its handshake failed, so this session
    /// runs in clear text on a second connection.
    public var opportunisticTLSFailure: SMTPError? { opportunisticTLSFailureBox.withLockedValue { $0 } }
    private let opportunisticTLSFailureBox = NIOLockedValueBox<SMTPError?>(nil)

    /// Whether TLS protects this session.
    public var isTLSActive: Bool { tls != nil }
    /// True while the session can take another transaction: set up, not failed, not closed.
    public var isUsable: Bool { status.withLockedValue { $0.isUsable } && channel.isActive }
    /// Transactions completed on this connection, for `messages_per_connection` limits.
    public var transactionCount: Int { status.withLockedValue { $0.transactions } }

    private init(server: String, info: SMTPSessionInfo, channel: Channel, status: NIOLockedValueBox<SMTPConnectionStatus>, logger: Logger) {
        self.server = server
        self.localAddress = channel.localAddress?.ipAddress
        self.greeting = info.greeting
        self.capabilities = info.capabilities
        self.tls = info.tls
        self.startTLSWasRefused = info.startTLSWasRefused
        self.handler = info.handler
        self.channel = channel
        self.status = status
        self.logger = logger
    }

    /// A connection dropped without `quit()` or `close()` still closes its socket.
    deinit {
        channel.close(promise: nil)
    }

    /// Connects, reads the greeting, says EHLO (or HELO), starts TLS and authenticates as
    /// `configuration` says. Throws `SMTPError` naming the step that failed.
    ///
    /// Under `.opportunistic`, a STARTTLS handshake that fails (a broken TLS stack, no
    /// common cipher) is followed by one more connection in clear text, as MTAs do; the
    /// failure is kept in `opportunisticTLSFailure`. Plaintext injected after the 220 to
    /// STARTTLS is an attack, never a reason to fall back.
    ///
    /// `hostName` is the name `host` (an address) was found under, such as an MX host: it
    /// is shown in `server` as `mx.example[192.0.2.1]:25`, the way MTAs log a relay.
    public static func connect(
        host: String,
        port: Int,
        hostName: String? = nil,
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "salvo.smtp")
    ) async throws -> SMTPConnection {
        do {
            return try await connectOnce(host: host, port: port, hostName: hostName, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        } catch let error as SMTPError where configuration.tls == .opportunistic && error.code == .tlsHandshakeFailed {
            var clearText = configuration
            clearText.tls = .none
            let connection = try await connectOnce(host: host, port: port, hostName: hostName, configuration: clearText, eventLoopGroup: eventLoopGroup, logger: logger)
            connection.logger.debug("smtp opportunistic TLS failed, went on in clear text", metadata: ["smtp_error": "\(error)"])
            connection.opportunisticTLSFailureBox.withLockedValue { $0 = error }
            return connection
        }
    }

    private static func connectOnce(
        host: String,
        port: Int,
        hostName: String?,
        configuration: SMTPConfiguration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> SMTPConnection {
        let server = if let hostName, hostName != host {
            "\(hostName)[\(host)]:\(port)"
        } else {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
        var logger = logger
        logger[metadataKey: "smtp_server"] = "\(server)"
        logger[metadataKey: "smtp_connection_id"] = "\(nextConnectionID.withLockedValue { id in id += 1; return id })"

        let tlsSetup: SMTPTLSSetup?
        if configuration.tls == .none {
            tlsSetup = nil
        } else {
            do {
                tlsSetup = try SMTPTLSSetup(configuration: configuration, host: host)
            } catch {
                throw SMTPError(.tlsHandshakeFailed, detail: "cannot set up TLS (ca_file \(configuration.caFile ?? "system")): \(error)", server: server)
            }
        }

        let source: SocketAddress?
        if let address = configuration.sourceAddress {
            do {
                source = try SocketAddress(ipAddress: address, port: 0)
            } catch {
                throw SMTPError(.sourceAddressUnavailable, detail: "source address \(address) is not an IP address", server: server)
            }
        } else {
            source = nil
        }

        let eventLoop = eventLoopGroup.next()
        let setupPromise = eventLoop.makePromise(of: SMTPSessionInfo.self)
        let status = NIOLockedValueBox(SMTPConnectionStatus())
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.timeouts.connect)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let handler = SMTPChannelHandler(
                        configuration: configuration, server: server, tlsSetup: tlsSetup,
                        status: status, setupPromise: setupPromise)
                    if let tlsSetup, configuration.tls == .implicit {
                        let handlers = try tlsSetup.makeHandlers()
                        try channel.pipeline.syncOperations.addHandlers([handlers.observer, handlers.tls])
                        handler.useImplicitTLS(handlers)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }

        let channel: Channel
        do {
            channel = try await (source.map { bootstrap.bind(to: $0) } ?? bootstrap).connect(host: host, port: port).get()
        } catch {
            setupPromise.fail(error)
            if let source = configuration.sourceAddress, ConnectFailure.isUnusableSourceAddress(error) {
                throw SMTPError(.sourceAddressUnavailable,
                                detail: "cannot connect from source address \(source): \(ConnectFailure.describe(error))", server: server)
            }
            if case ChannelError.connectTimeout = error {
                throw SMTPError(.connectTimeout, detail: "no connection within \(configuration.timeouts.connect)", server: server)
            }
            throw SMTPError(.connectFailed, detail: ConnectFailure.describe(error), server: server)
        }
        let info: SMTPSessionInfo
        do {
            info = try await setupPromise.futureResult.get()
        } catch {
            channel.close(promise: nil)
            logger.debug("smtp session failed", metadata: ["smtp_error": "\(error)"])
            throw error
        }
        logger.debug("smtp session ready", metadata: [
            "smtp_tls": "\(info.tls?.version ?? "none")",
            "smtp_pipelining": "\(info.capabilities.pipelining)",
        ])
        return SMTPConnection(server: server, info: info, channel: channel, status: status, logger: logger)
    }

    /// Sends one transaction and returns one outcome per recipient. The connection is
    /// ready for the next transaction afterwards unless the server closed it (421), in
    /// which case `isUsable` turns false.
    ///
    /// With `release`, the envelope and DATA go out at once and the content only when
    /// `release` has succeeded with true: the caller can commit a note that the message
    /// is about to go while its envelope is on the wire. False, or a failure, drops the
    /// connection before any content is sent (`SMTPError.contentWithheld`).
    public func send(_ transaction: SMTPTransaction, release: EventLoopFuture<Bool>? = nil) async throws -> SMTPTransactionResult {
        let promise = channel.eventLoop.makePromise(of: SMTPTransactionResult.self)
        let handler = self.handler
        if channel.eventLoop.inEventLoop {
            // The caller runs on this connection's event loop (an actor whose executor
            // is `eventLoop`): no hop needed.
            handler.value.startTransaction(transaction, release: release, promise: promise)
        } else {
            channel.eventLoop.execute {
                handler.value.startTransaction(transaction, release: release, promise: promise)
            }
        }
        do {
            return try await promise.futureResult.get()
        } catch {
            logger.debug("smtp transaction failed", metadata: ["smtp_error": "\(error)"])
            throw error
        }
    }

    /// Says QUIT, waits for the reply (within the command time limit) and closes.
    /// Never throws: a connection that is already gone is simply closed.
    public func quit() async {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.quit(promise: promise)
        }
        try? await promise.futureResult.get()
        try? await channel.closeFuture.get()
    }

    /// Closes the connection at once, without QUIT; a running transaction fails.
    public func close() async {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.close(promise: promise)
        }
        try? await promise.futureResult.get()
        try? await channel.closeFuture.get()
    }
}
