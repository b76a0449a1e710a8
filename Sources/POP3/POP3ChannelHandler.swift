import NIOCore
import NIOSSL
import MailClientSupport

/// The thin I/O layer: feeds the bytes read to `POP3SessionStateMachine`, runs its
/// actions (write a command, complete the caller's promise, close) and keeps the time
/// limit for the awaited response. All of it runs on the channel's event loop.
final class POP3ChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Pending {
        case none
        case setup(EventLoopPromise<POP3Capabilities>)
        case request(EventLoopPromise<POP3SessionStateMachine.Outcome>)
        case quit(EventLoopPromise<Void>)
    }

    private var stateMachine: POP3SessionStateMachine
    private var pending: Pending
    private var inbound: ByteBuffer?
    private var context: ChannelHandlerContext?
    private let server: String
    private let timeouts: POP3Timeouts
    private var greeted = false
    private let replyTimer = ReplyTimer()

    init(stateMachine: POP3SessionStateMachine, server: String, timeouts: POP3Timeouts,
         setupPromise: EventLoopPromise<POP3Capabilities>) {
        self.stateMachine = stateMachine
        self.server = server
        self.timeouts = timeouts
        self.pending = .setup(setupPromise)
    }

    // MARK: Requests from POP3Connection (on the event loop)

    func request(_ request: POP3SessionStateMachine.Request, promise: EventLoopPromise<POP3SessionStateMachine.Outcome>) {
        guard let context else {
            return promise.fail(POP3Error(.connectionNotUsable, command: request.command.description, server: server))
        }
        let action = stateMachine.request(request)
        if case .rejectRequest(var error) = action {
            error.server = server
            return promise.fail(error)
        }
        pending = .request(promise)
        run(action, context: context)
    }

    func quit(promise: EventLoopPromise<Void>) {
        guard let context else {
            return promise.fail(POP3Error(.quitFailed, command: "QUIT", detail: "the connection was already closed", server: server))
        }
        let action = stateMachine.quit()
        if case .rejectRequest(var error) = action {
            error.server = server
            return promise.fail(error)
        }
        pending = .quit(promise)
        run(action, context: context)
    }

    func close() {
        guard let context else { return }
        run(stateMachine.errorCaught(POP3Error(.connectionNotUsable, detail: "closed by the reader")), context: context)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        inbound = context.channel.allocator.buffer(capacity: 4096)
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
        greeted = true
        inbound!.writeBuffer(&bytes)
        while true {
            let action = stateMachine.bytesReceived(&inbound!)
            if case .none = action { break }
            run(action, context: context)
        }
        if inbound!.readableBytes == 0 {
            inbound!.clear()
        } else if inbound!.readerIndex > 65536 {
            inbound!.discardReadBytes()
        }
        armTimer(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Before the first decrypted byte, any failure is TLS: an untrusted certificate,
        // a wrong name, or a peer that is not speaking TLS on this port.
        let isTLSError = error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError
        let code: POP3Error.Code = isTLSError || !greeted ? .tlsHandshakeFailed : .connectionClosed
        run(stateMachine.errorCaught(POP3Error(code, detail: "\(error)", server: server)), context: context)
    }

    // MARK: Actions

    private func run(_ action: POP3SessionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none, .rejectRequest:
            break

        case .send(let command):
            var buffer = context.channel.allocator.buffer(capacity: 64)
            command.write(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            armTimer(context: context)

        case .sessionReady(let capabilities):
            if case .setup(let promise) = pending {
                pending = .none
                promise.succeed(capabilities)
            }

        case .completed(let outcome):
            if case .request(let promise) = pending {
                pending = .none
                promise.succeed(outcome)
            }

        case .requestFailed(var error):
            error.server = server
            if case .request(let promise) = pending {
                pending = .none
                promise.fail(error)
            }

        case .fail(var error):
            error.server = server
            let pending = self.pending
            self.pending = .none
            switch pending {
            case .none: break
            case .setup(let promise): promise.fail(error)
            case .request(let promise): promise.fail(error)
            case .quit(let promise): promise.fail(error)
            }
            context.close(promise: nil)

        case .quitCompleted:
            if case .quit(let promise) = pending {
                pending = .none
                promise.succeed()
            }
            context.close(promise: nil)
        }
    }

    // MARK: Time limit

    /// Moves the deadline while a response is awaited. Bytes arriving move it too, so a
    /// large message that keeps coming is never cut, while a stalled one is.
    private func armTimer(context: ChannelHandlerContext) {
        guard stateMachine.isAwaitingResponse else { return replyTimer.clear() }
        replyTimer.set(.now() + (greeted ? timeouts.response : timeouts.greeting), on: context.eventLoop) { [weak self] in
            guard let self, let context = self.context else { return }
            let what = greeted ? "no response within \(timeouts.response)" : "no TLS handshake and greeting within \(timeouts.greeting)"
            run(stateMachine.errorCaught(POP3Error(.responseTimeout, detail: what, server: server)), context: context)
        }
    }
}
