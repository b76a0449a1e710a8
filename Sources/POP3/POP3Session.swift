/// A logged-in session on a mailbox, as `POP3Mailbox.withSession` hands it out. Requests
/// run one at a time; a second request while one is running is refused, not queued.
public final class POP3Session: Sendable {
    /// A message as listed when the session began.
    public struct Entry: Sendable, Hashable {
        /// Its number in this session only.
        public var number: Int
        /// Its UIDL id, stable across sessions.
        public var uid: String
        /// Its size in octets as LIST reports it (CRLF line ends).
        public var octets: Int
    }

    /// `host:port` of the server.
    public var server: String { connection.server }
    public var capabilities: POP3Capabilities { connection.capabilities }
    /// The mailbox's messages when the session began, in the server's order. The
    /// server locks the mailbox for the session, so this does not change under it.
    public let messages: [Entry]
    private let connection: POP3Connection

    private init(connection: POP3Connection, messages: [Entry]) {
        self.connection = connection
        self.messages = messages
    }

    static func open(_ connection: POP3Connection) async throws -> POP3Session {
        guard case .uniqueIDs(let ids) = try await connection.run(.uniqueIDs),
              case .sizes(let sizes) = try await connection.run(.sizes)
        else { throw POP3Error(.unexpectedResponse, detail: "a listing of the wrong kind", server: connection.server) }
        let octets = Dictionary(sizes.map { ($0.number, $0.octets) }, uniquingKeysWith: { first, _ in first })
        let entries = ids.map { Entry(number: $0.number, uid: $0.uid, octets: octets[$0.number] ?? 0) }
        return POP3Session(connection: connection, messages: entries)
    }

    /// The message's bytes: dot-unstuffed, CRLF line ends, as the server holds it.
    public func retrieve(_ entry: Entry) async throws -> [UInt8] {
        guard case .message(let bytes) = try await connection.run(.retrieve(entry.number)) else {
            throw POP3Error(.unexpectedResponse, command: "RETR \(entry.number)", server: server)
        }
        return bytes
    }

    /// Marks the message for deletion. Call it only once the message is processed and
    /// committed; the server deletes it when the session ends with QUIT.
    public func delete(_ entry: Entry) async throws {
        _ = try await connection.run(.delete(entry.number))
    }
}
