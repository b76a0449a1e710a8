import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// `salvo sink`: an SMTP server that accepts every message and hands it to `onMessage`
/// (write it to a Maildir, print a line), so a campaign can be tried end to end on one
/// machine. The protocol lives in `SinkSession`; this is only the socket around it.
public final class SMTPSink: Sendable {
    public typealias MessageHandler = @Sendable (SinkMessage) -> Void

    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup
    private let received: NIOLockedValueBox<Int>
    private let stopped = NIOLockedValueBox(false)

    /// The address and port it listens on (the port is the real one when 0 was asked).
    public let host: String
    public let port: Int

    /// Starts listening on `host:port` (port 0 picks a free one).
    public static func start(host: String = "127.0.0.1", port: Int = 2525, hostname: String = "sink.salvo.test",
                             onMessage: @escaping MessageHandler) async throws -> SMTPSink {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let counter = NIOLockedValueBox(0)
        let handler: MessageHandler = { message in
            counter.withLockedValue { $0 += 1 }
            onMessage(message)
        }
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SinkLineDecoder()))
                        try channel.pipeline.syncOperations.addHandler(SinkChannelHandler(hostname: hostname, onMessage: handler))
                    }
                }
                .bind(host: host, port: port).get()
            let bound = channel.localAddress?.port ?? port
            return SMTPSink(channel: channel, group: group, received: counter, host: host, port: bound)
        } catch {
            try? await group.shutdownGracefully()
            throw SMTPSinkError(message: "cannot listen on \(host):\(port): \(error)")
        }
    }

    private init(channel: Channel, group: MultiThreadedEventLoopGroup, received: NIOLockedValueBox<Int>, host: String, port: Int) {
        self.channel = channel
        self.group = group
        self.received = received
        self.host = host
        self.port = port
    }

    /// Messages received so far.
    public var messageCount: Int { received.withLockedValue { $0 } }

    /// Waits until the server stops (after `stop()`).
    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }

    /// Stops listening and closes the sessions; calling it again does nothing.
    public func stop() async {
        let first = stopped.withLockedValue { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

public struct SMTPSinkError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Splits the byte stream into lines (LF, with an optional CR before it). A line longer
/// than the limit is a client bug or an attack: the connection is closed.
struct SinkLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]
    static let maxLine = 64 * 1024

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maxLine { throw SMTPSinkError(message: "line longer than \(Self.maxLine) bytes") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readBytes(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.last == 0x0D { line.removeLast() }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }
}

final class SinkChannelHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer

    private var session: SinkSession
    private let onMessage: SMTPSink.MessageHandler
    private var pending = false

    init(hostname: String, onMessage: @escaping SMTPSink.MessageHandler) {
        session = SinkSession(hostname: hostname)
        self.onMessage = onMessage
    }

    func channelActive(context: ChannelHandlerContext) {
        write(session.greeting, context: context)
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        for action in session.receive(line: unwrapInboundIn(data)) {
            switch action {
            case .reply(let text): write(text, context: context)
            case .deliver(let message): onMessage(message)
            case .close:
                context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in context.close(promise: nil) }
                pending = false
                return
            }
        }
    }

    /// Replies to a pipelined batch leave together.
    func channelReadComplete(context: ChannelHandlerContext) {
        if pending {
            pending = false
            context.flush()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.connectionClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        write("421 4.3.0 \(error)", context: context)
        context.flush()
        context.close(promise: nil)
    }

    private func write(_ text: String, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count + 2)
        buffer.writeString(text)
        buffer.writeString("\r\n")
        context.write(wrapOutboundOut(buffer), promise: nil)
        pending = true
    }
}
