import NIOCore

/// Sits in front of the TLS handler and reads the cipher suite out of the server's
/// ServerHello, which NIOSSL does not expose. The ServerHello is sent in clear text in
/// every TLS version, so this needs no keys; bytes pass through unchanged.
final class ServerHelloObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private(set) var cipherSuite: UInt16?
    private var seen: ByteBuffer?
    private var done = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done {
            var bytes = unwrapInboundIn(data)
            if seen == nil { seen = context.channel.allocator.buffer(capacity: 512) }
            seen!.writeBuffer(&bytes)
            inspect()
        }
        context.fireChannelRead(data)
    }

    private func inspect() {
        guard let seen else { return }
        let view = seen.readableBytesView
        let start = view.startIndex
        // record: type 22 (handshake), version, length; handshake: type 2 (ServerHello),
        // length(3), version(2), random(32), session id length(1), session id, cipher(2).
        guard view.count >= 44 else { return }
        guard view[start] == 22, view[start + 5] == 2 else { done = true; self.seen = nil; return }
        let sessionIDLength = Int(view[start + 43])
        guard view.count >= 44 + sessionIDLength + 2 else {
            if view.count > 16_384 { done = true; self.seen = nil }
            return
        }
        let offset = start + 44 + sessionIDLength
        cipherSuite = UInt16(view[offset]) << 8 | UInt16(view[offset + 1])
        done = true
        self.seen = nil
    }

    static func name(of suite: UInt16) -> String {
        let names: [UInt16: String] = [
            0x1301: "TLS_AES_128_GCM_SHA256",
            0x1302: "TLS_AES_256_GCM_SHA384",
            0x1303: "TLS_CHACHA20_POLY1305_SHA256",
            0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
            0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
            0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
            0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
        ]
        return names[suite] ?? "0x" + String(suite, radix: 16, uppercase: true)
    }
}
