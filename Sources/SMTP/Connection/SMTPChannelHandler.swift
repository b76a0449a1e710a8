import MailClientSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS

/// What a session learnt while it was set up; handed to `SMTPConnection`.
struct SMTPSessionInfo: Sendable {
    var greeting: SMTPReply
    var capabilities: SMTPCapabilities
    var tls: SMTPTLSInfo?
    var startTLSWasRefused: Bool
    var handler: NIOLoopBound<SMTPChannelHandler>
}

/// The connection's state as other threads may read it.
struct SMTPConnectionStatus: Sendable {
    var isUsable = false
    var transactions = 0
}

/// The thin I/O layer: reads replies, feeds them to `SMTPSessionStateMachine`, runs its
/// actions (writes, TLS upgrade, completing the caller's promise) and keeps the reply
/// deadline. All of it runs on the channel's event loop.
final class SMTPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Pending {
        case none
        case setup(EventLoopPromise<SMTPSessionInfo>)
        case transaction(EventLoopPromise<SMTPTransactionResult>)
        case quit(EventLoopPromise<Void>)
    }

    private var stateMachine: SMTPSessionStateMachine
    private var parser = SMTPReplyParser()
    private var inbound: ByteBuffer?
    private var pending: Pending
    private let server: String
    private let timeouts: SMTPTimeouts
    private let tlsSetup: SMTPTLSSetup?
    private let status: NIOLockedValueBox<SMTPConnectionStatus>
    private var context: ChannelHandlerContext?

    private let replyTimer = ReplyTimer()

    private var tlsHandlers: (observer: ServerHelloObserver, tls: NIOSSLClientHandler, recorder: VerificationRecorder)?
    private var tlsInfo: SMTPTLSInfo?

    /// Counts transactions, so an answer to an earlier one's content release is ignored.
    private var transactionNumber = 0
    /// The caller's answer for the current transaction's held content, once it came.
    private var contentRelease: Bool?

    init(
        configuration: SMTPConfiguration,
        server: String,
        tlsSetup: SMTPTLSSetup?,
        status: NIOLockedValueBox<SMTPConnectionStatus>,
        setupPromise: EventLoopPromise<SMTPSessionInfo>
    ) {
        self.stateMachine = SMTPSessionStateMachine(
            configuration: .init(configuration), tlsActive: configuration.tls == .implicit)
        self.server = server
        self.timeouts = configuration.timeouts
        self.tlsSetup = tlsSetup
        self.status = status
        self.pending = .setup(setupPromise)
    }

    /// For implicit TLS: the handlers already in front of this one.
    func useImplicitTLS(_ handlers: (observer: ServerHelloObserver, tls: NIOSSLClientHandler, recorder: VerificationRecorder)) {
        tlsHandlers = handlers
    }

    // MARK: Requests from SMTPConnection (on the event loop)

    /// `release`, when given, holds the content after the 354 until it succeeds with
    /// true; false or a failure withholds it (`SMTPError.contentWithheld`).
    func startTransaction(_ transaction: SMTPTransaction, release: EventLoopFuture<Bool>?,
                          promise: EventLoopPromise<SMTPTransactionResult>) {
        guard let context else { return promise.fail(error(.connectionNotUsable)) }
        let action = stateMachine.startTransaction(transaction, holdingContent: release != nil)
        if case .rejectTransaction(var error) = action {
            error.server = server
            return promise.fail(error)
        }
        transactionNumber += 1
        contentRelease = nil
        pending = .transaction(promise)
        if let release {
            let number = transactionNumber
            release.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                guard number == transactionNumber, let context = self.context else { return }
                let go = (try? result.get()) ?? false
                contentRelease = go
                if stateMachine.isHoldingContent { releaseOrWithhold(go, context: context) }
            }
        }
        run(action, context: context)
        armTimer(context: context)
    }

    private func releaseOrWithhold(_ go: Bool, context: ChannelHandlerContext) {
        run(go ? stateMachine.contentReleased() : stateMachine.contentWithheld("the sender withdrew the message"), context: context)
        armTimer(context: context)
    }

    func quit(promise: EventLoopPromise<Void>) {
        guard let context, !stateMachine.isClosed else { return promise.succeed() }
        if case .none = pending {
            pending = .quit(promise)
            run(stateMachine.quit(), context: context)
            armTimer(context: context)
        } else {
            // An operation is running: abandon it, do not wait for it.
            close(promise: promise)
        }
    }

    func close(promise: EventLoopPromise<Void>?) {
        guard let context else {
            promise?.succeed()
            return
        }
        run(stateMachine.errorCaught(error(.connectionNotUsable, detail: "closed by the caller")), context: context)
        promise?.succeed()
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        inbound = context.channel.allocator.buffer(capacity: 1024)
        if context.channel.isActive { armTimer(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        replyTimer.cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        armTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(stateMachine.connectionClosed(), context: context)
        replyTimer.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        inbound!.writeBuffer(&bytes)
        var replies = 0
        do {
            while !stateMachine.isClosed, let reply = try parser.parse(&inbound!) {
                replies += 1
                run(stateMachine.replyReceived(reply, unprocessedBytes: inbound!.readableBytes), context: context)
            }
        } catch {
            run(stateMachine.errorCaught(self.error(.malformedReply, detail: error.description)), context: context)
        }
        if replies == 0, inbound!.readableBytes > 0 {
            run(stateMachine.unsolicitedBytesReceived(inbound!.readableBytes), context: context)
        }
        if inbound!.readableBytes == 0 {
            inbound!.clear()
        } else if inbound!.readerIndex > 4096 {
            inbound!.discardReadBytes()
        }
        // Only a complete reply starts the wait for the next one: bytes of a reply still
        // arriving leave its deadline where it was.
        if replies > 0 { armTimer(context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case TLSUserEvent.handshakeCompleted = event else {
            return context.fireUserInboundEventTriggered(event)
        }
        tlsInfo = readTLSInfo()
        if stateMachine.wait == .tlsHandshake {
            run(stateMachine.tlsHandshakeCompleted(), context: context)
            armTimer(context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Any failure while TLS is being set up (implicit or STARTTLS) is a TLS failure:
        // certificate, name, protocol version or a peer that is not speaking TLS.
        let handshaking = stateMachine.wait == .tlsHandshake || (tlsHandlers != nil && tlsInfo == nil)
        let isTLSError = error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
        var code: SMTPError.Code = handshaking || isTLSError ? .tlsHandshakeFailed : .connectionClosed
        var detail = "\(error)"
        if code == .tlsHandshakeFailed, tlsSetup?.verification == .verify, Self.isCertificateFailure(error) {
            code = .certificateNotTrusted
            detail = "the certificate does not verify for \(tlsSetup?.expectedName ?? server) against "
                + (tlsSetup?.caFile.map { "ca_file \($0)" } ?? "the system trust store") + " (\(error))"
        }
        run(stateMachine.errorCaught(self.error(code, detail: detail)), context: context)
    }

    /// A handshake that failed on the certificate (chain or name), not on the protocol.
    private static func isCertificateFailure(_ error: any Error) -> Bool {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname { return true }
        return "\(error)".contains("CERTIFICATE_VERIFY_FAILED")
    }

    // MARK: Actions

    private func run(_ action: SMTPSessionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break

        case .send(let commands):
            var buffer = context.channel.allocator.buffer(capacity: 64 * commands.count)
            for command in commands { command.write(into: &buffer) }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)

        case .sendMessage(let message):
            var buffer = context.channel.allocator.buffer(capacity: message.readableBytes + message.readableBytes / 32 + 16)
            SMTPDataEncoder.encode(message, into: &buffer)
            // The data block limit runs while the bytes go out (the wait is `.dataBlock`
            // until the write completes); the end-of-data limit after.
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenSuccess { [self] in
                guard let context = self.context, stateMachine.wait == .dataBlock else { return }
                run(stateMachine.messageWritten(), context: context)
                armTimer(context: context)
            }
            context.writeAndFlush(wrapOutboundOut(buffer), promise: written)

        case .awaitContentRelease:
            // The answer may have come before the 354.
            if let go = contentRelease { releaseOrWithhold(go, context: context) }

        case .startTLS:
            do {
                guard let tlsSetup else { throw error(.tlsHandshakeFailed, detail: "no TLS context") }
                let handlers = try tlsSetup.makeHandlers()
                try context.pipeline.syncOperations.addHandlers([handlers.observer, handlers.tls], position: .first)
                tlsHandlers = handlers
            } catch {
                run(stateMachine.errorCaught(self.error(.tlsHandshakeFailed, detail: "\(error)")), context: context)
            }

        case .sessionReady(let capabilities):
            status.withLockedValue { $0.isUsable = true }
            guard case .setup(let promise) = pending else { break }
            pending = .none
            promise.succeed(SMTPSessionInfo(
                greeting: stateMachine.greeting ?? SMTPReply(code: 220, lines: []),
                capabilities: capabilities,
                tls: tlsInfo,
                startTLSWasRefused: stateMachine.startTLSWasRefused,
                handler: NIOLoopBound(self, eventLoop: context.eventLoop)
            ))

        case .transactionCompleted(let result, let closeConnection):
            status.withLockedValue {
                $0.transactions += 1
                $0.isUsable = !closeConnection
            }
            if case .transaction(let promise) = pending {
                pending = .none
                promise.succeed(result)
            }
            if closeConnection { context.close(promise: nil) }

        case .rejectTransaction:
            break // answered in startTransaction

        case .fail(var error):
            error.server = server
            status.withLockedValue { $0.isUsable = false }
            let pending = self.pending
            self.pending = .none
            switch pending {
            case .none: break
            case .setup(let promise): promise.fail(error)
            case .transaction(let promise): promise.fail(error)
            case .quit(let promise): promise.succeed()
            }
            context.close(promise: nil)

        case .quitCompleted:
            status.withLockedValue { $0.isUsable = false }
            if case .quit(let promise) = pending {
                pending = .none
                promise.succeed()
            }
            context.close(promise: nil)
        }
    }

    // MARK: Time limits

    /// Starts the wait for the next reply: a deadline for the whole of it, from now.
    /// Called only where a wait begins (a command or the content written, a complete
    /// reply read, TLS up), never for bytes of a reply still arriving.
    private func armTimer(context: ChannelHandlerContext) {
        guard let wait = stateMachine.wait else { return replyTimer.clear() }
        let limit = timeouts.limit(for: wait)
        replyTimer.set(.now() + limit, on: context.eventLoop) { [weak self] in
            guard let self, let context = self.context else { return }
            let what = wait == .dataBlock ? "message not written" : "no complete \(wait) reply"
            run(stateMachine.errorCaught(error(.replyTimeout, detail: "\(what) within \(limit)")), context: context)
        }
    }

    // MARK: Helpers

    private func readTLSInfo() -> SMTPTLSInfo? {
        guard let handlers = tlsHandlers else { return nil }
        let certificate = handlers.tls.peerCertificate.map(SMTPPeerCertificate.init)
        var failure = handlers.recorder.failure
        if failure == nil, let tlsSetup, tlsSetup.verification == .recordOnly, let certificate,
           !certificate.names(tlsSetup.expectedName) {
            failure = "certificate does not name \(tlsSetup.expectedName)"
        }
        return SMTPTLSInfo(
            version: handlers.tls.tlsVersion?.name ?? "unknown",
            cipher: handlers.observer.cipherSuite.map(ServerHelloObserver.name(of:)),
            peerCertificate: certificate,
            verified: failure == nil && certificate != nil,
            verificationFailure: certificate == nil ? "no certificate" : failure,
            implicit: tlsSetup?.implicit ?? false
        )
    }

    private func error(_ code: SMTPError.Code, detail: String? = nil) -> SMTPError {
        SMTPError(code, command: stateMachine.lastCommand?.redacted, detail: detail, server: server)
    }
}
