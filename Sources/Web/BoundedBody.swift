import Hummingbird
import NIOCore

/// A POST body read within `WebSettings`' bounds, in size and in time: a body over the
/// limit is refused unread (413), and a client that trickles it is cut off (408). Every
/// route that reads a form reads it through here.
enum BoundedBody {
    static func read(_ request: inout Request, settings: WebSettings) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > settings.maxBodyBytes {
            throw HTTPError(.contentTooLarge)
        }
        let limit = settings.maxBodyBytes
        let timeout = settings.bodyTimeout
        let body = request.body
        let buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else { throw HTTPError(.requestTimeout) }
            return buffer
        }
        return Array(buffer.readableBytesView)
    }
}
