import Foundation
import NIOConcurrencyHelpers

/// A bounce mailbox read over POP3S: each message once, by its UIDL id. With
/// `deleteProcessed` a message is deleted from the server once the importer has
/// committed it (or found it had before); a message it could not read stays.
public struct POP3BounceSource: BounceSource {
    public let mailbox: POP3Mailbox
    public let deleteProcessed: Bool
    private let processed = NIOLockedValueBox<Set<String>>([])

    public init(mailbox: POP3Mailbox, deleteProcessed: Bool) {
        self.mailbox = mailbox
        self.deleteProcessed = deleteProcessed
    }

    public var name: String { mailbox.description }

    public func forEachMessage(_ body: (RawMailMessage) async throws -> Void) async throws {
        try await mailbox.forEachMessage { message in
            let place = "\(mailbox.url.server) message \(message.number) (uid \(message.uid))"
            try await body(RawMailMessage(place: place, bytes: message.bytes))
            let done = processed.withLockedValue { $0.remove(place) != nil }
            return done && deleteProcessed ? .delete : .keep
        }
    }

    public func messageProcessed(_ message: RawMailMessage) async throws {
        _ = processed.withLockedValue { $0.insert(message.place) }
    }
}
