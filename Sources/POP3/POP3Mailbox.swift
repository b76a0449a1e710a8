/// A bounce mailbox read over POP3 with implicit TLS (`pop3s://USER@HOST[:PORT]`).
///
/// Built for an importer that must never lose a bounce nor count one twice:
/// - each message comes with its UIDL id, the same in every session, so an importer can
///   record what it processed and recognise it again;
/// - messages are retrieved one at a time and handed over as raw bytes (CRLF line ends,
///   dot-unstuffed), so a large mailbox never sits in memory;
/// - a message is marked for deletion only after the caller says it is processed
///   (committed), and the server deletes marked messages only when QUIT succeeds. A
///   session cut short deletes nothing, so the next one sees those messages again: an
///   importer keyed on the id skips them then.
///
/// ```swift
/// let mailbox = try POP3Mailbox(url: "pop3s://bounces%40shop.example@mail.shop.example",
///                               password: environment["SALVO_POP3_PASSWORD"]!)
/// let summary = try await mailbox.forEachMessage { message in
///     try store.recordBounce(uid: message.uid, bytes: message.bytes)   // commits
///     return .delete
/// }
/// ```
public struct POP3Mailbox: Sendable, CustomStringConvertible {
    public let url: POP3URL
    /// A PEM file of trusted CA certificates; nil trusts the system store.
    public var caFile: String?
    public var timeouts: POP3Timeouts
    public var limits: POP3SessionStateMachine.Limits
    private let password: String

    /// Parses `url` (`pop3s://USER@HOST[:PORT]`, port 995 by default); throws
    /// `POP3Error` (`invalidURL`) naming what is wrong. Nothing is sent yet.
    public init(
        url: String,
        password: String,
        caFile: String? = nil,
        timeouts: POP3Timeouts = POP3Timeouts(),
        limits: POP3SessionStateMachine.Limits = .init()
    ) throws(POP3Error) {
        let parsed = try POP3URL(url)
        guard !password.isEmpty else {
            throw POP3Error(.invalidArgument, detail: "the password for \(parsed) is empty", server: parsed.server)
        }
        self.url = parsed
        self.password = password
        self.caFile = caFile
        self.timeouts = timeouts
        self.limits = limits
    }

    /// The mailbox address; never the password.
    public var description: String { url.description }

    /// Hands every message in the mailbox to `process`, one at a time, in the server's
    /// order. When `process` returns `.delete` the message is marked for deletion; return
    /// it only once what you took from the message is committed. QUIT at the end makes
    /// the deletions happen.
    ///
    /// If `process` throws, the messages already marked are still deleted (they were
    /// committed), the rest stay, and the error is rethrown. Throws `POP3Error` for
    /// failures of the session; if QUIT is not acknowledged (`quitFailed`), nothing was
    /// deleted.
    @discardableResult
    public func forEachMessage(
        _ process: (POP3Message) async throws -> POP3Message.Disposition
    ) async throws -> POP3ReadSummary {
        try await withSession { session in
            var summary = POP3ReadSummary()
            for entry in session.messages {
                let bytes = try await session.retrieve(entry)
                summary.read += 1
                let disposition = try await process(POP3Message(number: entry.number, uid: entry.uid, bytes: bytes))
                if disposition == .delete {
                    try await session.delete(entry)
                    summary.deleted += 1
                }
            }
            return summary
        }
    }

    /// Opens a session, lists the messages (UIDL and LIST), runs `body`, then says QUIT
    /// so that deletions marked in `body` take effect. For importers that decide per id
    /// before retrieving (skip or delete what an earlier, cut-short session already
    /// committed).
    ///
    /// QUIT is said after `body` throws too: what it marked was committed. The error
    /// from `body` is the one rethrown.
    public func withSession<Result>(_ body: (POP3Session) async throws -> Result) async throws -> Result {
        let connection = try await POP3Connection.connect(
            url: url, password: password, caFile: caFile, timeouts: timeouts, limits: limits)
        let session: POP3Session
        do {
            session = try await POP3Session.open(connection)
        } catch {
            await connection.close()
            throw error
        }
        let result: Result
        do {
            result = try await body(session)
        } catch {
            try? await connection.quit()
            throw error
        }
        try await connection.quit()
        return result
    }
}

/// One retrieved message.
public struct POP3Message: Sendable, Hashable {
    /// What to do with a message once processed.
    public enum Disposition: Sendable, Hashable {
        /// Processed and committed: mark it for deletion.
        case delete
        /// Leave it in the mailbox (not a bounce, or kept on purpose).
        case keep
    }

    /// Its number in this session only.
    public var number: Int
    /// Its UIDL id: the same in every session, the key to record it by.
    public var uid: String
    /// The message as the server holds it: headers and body, CRLF line ends.
    public var bytes: [UInt8]
}

/// What `forEachMessage` did.
public struct POP3ReadSummary: Sendable, Hashable {
    public var read = 0
    public var deleted = 0
}
