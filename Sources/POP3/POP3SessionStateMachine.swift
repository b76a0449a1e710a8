import NIOCore

/// One client POP3 session (RFC 1939, CAPA from RFC 2449) as a pure state machine: bytes
/// and requests in, actions out (write this command, the session is ready, this request
/// completed, fail). No I/O and no clock: `POP3Connection`'s channel handler runs the
/// actions, and the tests read as transcripts.
///
/// The session logs in with USER/PASS right after the greeting and CAPA, then takes one
/// request at a time. Multi-line responses are read line by line, dot-unstuffed and
/// ended at the "." line; every line of a retrieved message comes back ended with CRLF,
/// as POP3 sends it.
public struct POP3SessionStateMachine: Sendable {
    /// Bounds on what a server can make the reader buffer.
    public struct Limits: Sendable, Hashable {
        /// Status and listing lines. RFC 2449 §4 caps a response line at 512 octets;
        /// some servers say more in `-ERR` text, so we allow more, but not unboundedly.
        public var responseLine: Int
        /// One line of a retrieved message. RFC 5322 says 998, but a bounce may quote a
        /// message from a mailer that ignored that, and refusing it would block the
        /// mailbox for good; a megabyte still stops a server that never ends a line.
        public var messageLine: Int
        /// A whole multi-line response: one message, or a listing.
        public var responseSize: Int

        public init(responseLine: Int = 4096, messageLine: Int = 1 << 20, responseSize: Int = 64 << 20) {
            self.responseLine = responseLine
            self.messageLine = messageLine
            self.responseSize = responseSize
        }
    }

    /// What the caller can ask of a ready session.
    public enum Request: Sendable, Hashable {
        case statistics
        case uniqueIDs
        case sizes
        case retrieve(Int)
        /// Marks the message for deletion; the server deletes it only when QUIT succeeds.
        case delete(Int)
        case noop

        var command: POP3Command {
            switch self {
            case .statistics: .stat
            case .uniqueIDs: .uidl
            case .sizes: .list
            case .retrieve(let number): .retr(number)
            case .delete(let number): .dele(number)
            case .noop: .noop
            }
        }
    }

    /// A request's result.
    public enum Outcome: Sendable, Hashable {
        case statistics(messages: Int, octets: Int)
        case uniqueIDs([POP3UniqueID])
        case sizes([POP3MessageSize])
        /// The message as the server holds it: dot-unstuffed, each line ended with CRLF.
        case message([UInt8])
        case deleted(Int)
        case noop
    }

    public enum Action: Sendable, Hashable {
        /// Nothing to do: wait for more bytes.
        case none
        /// Write this command.
        case send(POP3Command)
        /// Logged in: the session takes requests now.
        case sessionReady(POP3Capabilities)
        /// The request completed; the session is ready for the next.
        case completed(Outcome)
        /// The server answered the request `-ERR`; the session is still ready.
        case requestFailed(POP3Error)
        /// The request was refused before anything was written; the session is unchanged.
        case rejectRequest(POP3Error)
        /// The session failed: fail what is pending with this error and close.
        case fail(POP3Error)
        /// The server acknowledged QUIT: deletions are done; close the connection.
        case quitCompleted
    }

    private enum Step: Sendable, Hashable {
        case greeting, capa, user, pass, request(Request), quit
    }

    private enum State: Sendable, Hashable {
        case awaiting(Step)
        case ready
        case closed
    }

    public let user: String
    private let password: String
    public let limits: Limits
    private var state: State = .awaiting(.greeting)
    /// The lines of a multi-line response so far (unstuffed, CRLF after each), nil while
    /// a status line is awaited. Kept outside `state` so appending never copies it.
    private var body: [UInt8]?
    /// The capabilities from CAPA, once read.
    public private(set) var capabilities: POP3Capabilities?
    /// The last command written, for error messages.
    public private(set) var lastCommand: POP3Command?

    public init(user: String, password: String, limits: Limits = Limits()) {
        self.user = user
        self.password = password
        self.limits = limits
    }

    /// Logged in and waiting for a request.
    public var isReady: Bool { state == .ready }
    /// The session ended (failed, quit or closed).
    public var isClosed: Bool { state == .closed }
    /// A response is awaited (the time limit runs).
    public var isAwaitingResponse: Bool { if case .awaiting = state { true } else { false } }

    // MARK: Events

    /// Reads whole lines from `buffer` until one yields an action other than `.none`, or
    /// no whole line is left. Bytes after that line stay in `buffer`: call again until it
    /// returns `.none`.
    public mutating func bytesReceived(_ buffer: inout ByteBuffer) -> Action {
        while true {
            let limit: Int
            switch state {
            case .closed:
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return .none
            case .awaiting(.request(.retrieve)) where body != nil:
                limit = limits.messageLine
            case .awaiting, .ready:
                limit = limits.responseLine
            }
            let line: [UInt8]
            do {
                guard let next = try POP3LineReader.nextLine(&buffer, maximumLength: limit) else { return .none }
                line = next
            } catch {
                return fail(.lineTooLong, line: POP3Error.printable(error.start),
                            detail: "a line of at least \(error.length) bytes, the limit is \(limit)")
            }
            let action = lineReceived(line)
            if action != .none { return action }
        }
    }

    /// Asks for `request` on a ready session.
    public mutating func request(_ request: Request) -> Action {
        guard state == .ready else {
            return .rejectRequest(POP3Error(.connectionNotUsable, command: request.command.description,
                                            detail: state == .closed ? "the session has ended" : "another command awaits its response"))
        }
        let command = request.command
        guard command.hasValidArguments else {
            return .rejectRequest(POP3Error(.invalidArgument, command: command.description, detail: "message numbers start at 1"))
        }
        return send(command, then: .request(request))
    }

    /// Ends the session: QUIT makes the server delete what was marked (RFC 1939 §6).
    public mutating func quit() -> Action {
        switch state {
        case .ready: return send(.quit, then: .quit)
        case .closed: return .quitCompleted
        case .awaiting:
            return .rejectRequest(POP3Error(.connectionNotUsable, command: "QUIT", detail: "another command awaits its response"))
        }
    }

    /// The connection ended.
    public mutating func connectionClosed() -> Action {
        switch state {
        case .closed:
            return .none
        case .ready:
            return fail(.connectionClosed, detail: "while the session was idle")
        case .awaiting(.quit):
            return fail(.quitFailed, detail: "the connection closed before the reply to QUIT")
        case .awaiting:
            if let body {
                return fail(.truncatedResponse, detail: "the connection closed after \(body.count) bytes of the response")
            }
            return fail(.connectionClosed, detail: "before the response")
        }
    }

    /// The I/O layer failed (TLS, timeout, reset): the session is over.
    public mutating func errorCaught(_ error: POP3Error) -> Action {
        guard state != .closed else { return .none }
        var error = error
        if error.command == nil { error.command = lastCommand?.description }
        state = .closed
        body = nil
        return .fail(error)
    }

    // MARK: Lines

    private mutating func lineReceived(_ line: [UInt8]) -> Action {
        guard case .awaiting(let step) = state else {
            return fail(.unexpectedResponse, line: POP3Error.printable(line))
        }
        if body != nil { return bodyLineReceived(line, step: step) }

        guard let status = Status(line) else {
            return fail(.malformedResponse, line: POP3Error.printable(line), detail: "expected +OK or -ERR")
        }
        switch step {
        case .greeting:
            guard status.ok else { return fail(.greetingRejected, line: POP3Error.printable(line)) }
            return send(.capa, then: .capa)

        case .capa:
            guard status.ok else {
                // An RFC 1939 server without CAPA: try USER/PASS and UIDL anyway.
                capabilities = .unannounced
                return logIn()
            }
            body = []
            return .none

        case .user:
            guard status.ok else { return fail(.authenticationFailed, line: POP3Error.printable(line)) }
            let pass = POP3Command.pass(password)
            guard pass.hasValidArguments else {
                return fail(.invalidArgument, detail: "the password is empty or contains control characters")
            }
            return send(pass, then: .pass)

        case .pass:
            guard status.ok else { return fail(.authenticationFailed, line: POP3Error.printable(line)) }
            state = .ready
            return .sessionReady(capabilities ?? .unannounced)

        case .quit:
            guard status.ok else { return fail(.quitFailed, line: POP3Error.printable(line)) }
            state = .closed
            return .quitCompleted

        case .request(let request):
            guard status.ok else {
                state = .ready
                let code: POP3Error.Code = request == .uniqueIDs ? .uniqueIDsNotSupported : .commandRefused
                return .requestFailed(POP3Error(code, command: request.command.description, line: POP3Error.printable(line)))
            }
            if request.command.isMultiLine {
                body = []
                return .none
            }
            switch request {
            case .statistics:
                let fields = status.text.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 2, let messages = POP3Listing.number(ArraySlice(fields[0].utf8)),
                      let octets = POP3Listing.number(ArraySlice(fields[1].utf8))
                else {
                    return fail(.malformedResponse, line: POP3Error.printable(line), detail: "expected +OK COUNT OCTETS")
                }
                return complete(.statistics(messages: messages, octets: octets))
            case .delete(let number):
                return complete(.deleted(number))
            default:
                return complete(.noop)
            }
        }
    }

    private mutating func bodyLineReceived(_ line: [UInt8], step: Step) -> Action {
        if line == [UInt8(ascii: ".")] {
            let lines = body ?? []
            body = nil
            return multiLineCompleted(lines, step: step)
        }
        // RFC 1939 §3: a line that starts with "." had one added by the server.
        let content = line.first == UInt8(ascii: ".") ? line.dropFirst() : line[...]
        let size = (body?.count ?? 0) + content.count + 2
        guard size <= limits.responseSize else {
            return fail(.responseTooLarge, detail: "more than \(limits.responseSize) bytes")
        }
        body!.append(contentsOf: content)
        body!.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        return .none
    }

    private mutating func multiLineCompleted(_ bytes: [UInt8], step: Step) -> Action {
        if case .request(.retrieve) = step { return complete(.message(bytes)) }
        let lines = Self.lines(bytes)
        switch step {
        case .capa:
            capabilities = POP3Capabilities(lines: lines.map { String(decoding: $0, as: UTF8.self) })
            return logIn()
        case .request(.uniqueIDs):
            var ids: [POP3UniqueID] = []
            for line in lines {
                guard let id = POP3UniqueID(line: line) else {
                    return fail(.malformedResponse, line: POP3Error.printable(line), detail: "expected NUMBER UID")
                }
                ids.append(id)
            }
            return complete(.uniqueIDs(ids))
        case .request(.sizes):
            var sizes: [POP3MessageSize] = []
            for line in lines {
                guard let size = POP3MessageSize(line: line) else {
                    return fail(.malformedResponse, line: POP3Error.printable(line), detail: "expected NUMBER OCTETS")
                }
                sizes.append(size)
            }
            return complete(.sizes(sizes))
        default:
            return fail(.unexpectedResponse, detail: "a multi-line response to a single-line command")
        }
    }

    // MARK: Helpers

    private mutating func logIn() -> Action {
        guard capabilities?.offersUserLogin ?? true else {
            return fail(.userLoginNotOffered, detail: "CAPA: \(capabilities?.lines.joined(separator: ", ") ?? "")")
        }
        let command = POP3Command.user(user)
        guard command.hasValidArguments else {
            return fail(.invalidArgument, detail: "the user name is empty or contains control characters")
        }
        return send(command, then: .user)
    }

    private mutating func send(_ command: POP3Command, then step: Step) -> Action {
        lastCommand = command
        state = .awaiting(step)
        return .send(command)
    }

    private mutating func complete(_ outcome: Outcome) -> Action {
        state = .ready
        return .completed(outcome)
    }

    private mutating func fail(_ code: POP3Error.Code, line: String? = nil, detail: String? = nil) -> Action {
        state = .closed
        body = nil
        return .fail(POP3Error(code, command: lastCommand?.description, line: line, detail: detail))
    }

    /// Splits the body back into lines (each ends in CRLF there).
    private static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "\r"), bytes[index + 1] == UInt8(ascii: "\n") {
                lines.append(Array(bytes[start..<index]))
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        return lines
    }

    /// A status line: `+OK text` or `-ERR text` (RFC 1939 §3; case is forgiven).
    private struct Status {
        var ok: Bool
        var text: String

        init?(_ line: [UInt8]) {
            let text = String(decoding: line, as: UTF8.self)
            for (indicator, ok) in [("+OK", true), ("-ERR", false)] {
                guard text.uppercased().hasPrefix(indicator) else { continue }
                let rest = text.dropFirst(indicator.count)
                guard rest.isEmpty || rest.first == " " else { return nil }
                self.ok = ok
                self.text = String(rest.drop { $0 == " " })
                return
            }
            return nil
        }
    }
}
