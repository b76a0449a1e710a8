import Foundation

/// A Maildir folder (tmp/, new/, cur/) that `salvo sink` delivers into: each message is
/// written to tmp/ and renamed into new/, so a reader never sees half a message. The
/// envelope is kept in `Return-Path` and `X-Sink-Rcpt` lines above the message.
public struct Maildir: Sendable {
    public let path: String

    public init(path: String) throws {
        self.path = path
        for folder in ["tmp", "new", "cur"] {
            try FileManager.default.createDirectory(atPath: (path as NSString).appendingPathComponent(folder),
                                                    withIntermediateDirectories: true)
        }
    }

    /// Stores `message` and returns the file's path in new/.
    @discardableResult
    public func store(_ message: SinkMessage, sequence: Int) throws -> String {
        var bytes = Array("Return-Path: <\(message.from)>\r\n".utf8)
        for recipient in message.recipients { bytes += Array("X-Sink-Rcpt: <\(recipient)>\r\n".utf8) }
        bytes += message.data
        let now = Date().timeIntervalSince1970
        let name = "\(Int(now)).M\(Int((now - now.rounded(.down)) * 1_000_000))P\(getpid())Q\(sequence).salvo-sink"
        let temporary = (path as NSString).appendingPathComponent("tmp/\(name)")
        let final = (path as NSString).appendingPathComponent("new/\(name)")
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        try FileManager.default.moveItem(atPath: temporary, toPath: final)
        return final
    }
}
