import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import POP3

/// A POP3S server that accepts the connection and then says nothing: neither the TLS
/// handshake nor the greeting ever comes, and the reader gives up at its time limit.
@Suite struct POP3TimeoutTests {
    /// Keeps each accepted connection open without a byte written, for 20 s at most: a
    /// reader without its time limit fails on the hang-up instead of waiting forever.
    private final class Silent: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer

        func channelActive(context: ChannelHandlerContext) {
            context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(20)) { context.close(promise: nil) }
        }
    }

    @Test func aServerThatNeverGreetsIsCutOffAtTheGreetingLimit() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in channel.pipeline.addHandler(Silent()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let mailbox = try POP3Mailbox(url: "pop3s://bounces@127.0.0.1:\(port)", password: "secret",
                                      timeouts: POP3Timeouts(connect: .seconds(120), greeting: .milliseconds(300), response: .seconds(120)))
        do {
            _ = try await mailbox.forEachMessage { _ in .keep }
            Issue.record("a silent server was read")
        } catch let error as POP3Error {
            // The greeting limit ended it: the other limits are longer than the server's
            // 20 s, whose hang-up would be another error.
            #expect(error.code == .responseTimeout, "\(error)")
            #expect("\(error)".contains("no TLS handshake and greeting within"), "\(error)")
        }
        try? await server.close().get()
        try? await group.shutdownGracefully()
    }
}
