import Foundation
import POP3

/// A bounce mailbox read over POP3S: each message once, by its UIDL id. With
/// `deleteProcessed` a message is deleted from the server once the importer has
/// committed it (or found it had before); a message it could not read stays.
public struct POP3BounceSource: BounceSource {
    public let mailbox: POP3Mailbox
    public let deleteProcessed: Bool
    private let processed = ProcessedPlaces()

    public init(mailbox: POP3Mailbox, deleteProcessed: Bool) {
        self.mailbox = mailbox
        self.deleteProcessed = deleteProcessed
    }

    public var name: String { mailbox.description }

    public func forEachMessage(_ body: (RawMailMessage) async throws -> Void) async throws {
        try await mailbox.forEachMessage { message in
            let place = "\(mailbox.url.server) message \(message.number) (uid \(message.uid))"
            try await body(RawMailMessage(place: place, bytes: message.bytes))
            let done = processed.remove(place)
            return done && deleteProcessed ? .delete : .keep
        }
    }

    public func messageProcessed(_ message: RawMailMessage) async throws {
        processed.insert(message.place)
    }
}

/// The places the importer has committed during one pass, shared between the importer's
/// call (`messageProcessed`) and the mailbox loop that decides whether to delete.
private final class ProcessedPlaces: @unchecked Sendable {
    private let lock = NSLock()
    private var places: Set<String> = []

    func insert(_ place: String) { lock.withLock { _ = places.insert(place) } }

    /// Whether `place` was committed (and forgets it).
    func remove(_ place: String) -> Bool { lock.withLock { places.remove(place) != nil } }
}
