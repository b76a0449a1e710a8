import Foundation

/// One raw message read from a bounce mailbox.
public struct RawMailMessage: Sendable {
    /// Where it is, for a user to find it: `bounces.mbox message 3`,
    /// `Maildir/new/1795617383.V…`, or for POP3 the server and the message's UIDL.
    public var place: String
    /// The message (headers and body) as delivered, without an mbox "From " line and
    /// with mbox ">From " quoting undone.
    public var bytes: [UInt8]

    public init(place: String, bytes: [UInt8]) {
        self.place = place
        self.bytes = bytes
    }
}

/// Where bounces are read from: anything that yields raw messages one at a time.
///
/// A source only reads; the importer decides. Each message is identified by the
/// SHA-256 of its bytes, not by its place, so reading the same mailbox twice (or the
/// same message from a file and then over POP3) never counts it twice.
///
/// `MboxFile` and `MaildirFolder` read local files. A POP3S mailbox (`POP3BounceSource`,
/// over the POP3 target's `POP3Mailbox`) conforms the same way and is chosen by `BounceSourceLocation` for a
/// `pop3s://` URL; `messageProcessed` is where it may delete a message from the server
/// once the importer has recorded it.
public protocol BounceSource: Sendable {
    /// The path or URL, for messages.
    var name: String { get }

    /// Calls `body` with each message in mailbox order; stops at the first error
    /// `body` throws.
    func forEachMessage(_ body: (RawMailMessage) async throws -> Void) async throws

    /// Told once the importer has committed what `message` says (or found it had
    /// before). Files do nothing; a POP3 source may delete the message here.
    func messageProcessed(_ message: RawMailMessage) async throws
}

extension BounceSource {
    public func messageProcessed(_ message: RawMailMessage) async throws {}
}

/// A source that cannot be read at all: the path is missing or unreadable. Stops the
/// import before anything is changed; a bad message inside a readable source does not.
public struct BounceSourceError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
