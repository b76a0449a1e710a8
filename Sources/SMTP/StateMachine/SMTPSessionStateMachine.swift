import NIOCore

/// One client SMTP session as a pure state machine: events in (a reply arrived, TLS is
/// up, the caller wants to send a transaction), actions out (write these commands,
/// start TLS, report this result). No I/O, no clock: `SMTPConnection`'s channel handler
/// runs the actions, and the tests read as transcripts.
public struct SMTPSessionStateMachine: Sendable {
    /// The part of `SMTPConfiguration` the protocol logic needs.
    public struct Configuration: Sendable, Hashable {
        public var heloName: String
        public var tls: SMTPConfiguration.TLSPolicy
        public var credentials: SMTPCredentials?
        public var allowPlaintextAuth: Bool

        public init(heloName: String, tls: SMTPConfiguration.TLSPolicy, credentials: SMTPCredentials? = nil, allowPlaintextAuth: Bool = false) {
            self.heloName = heloName
            self.tls = tls
            self.credentials = credentials
            self.allowPlaintextAuth = allowPlaintextAuth
        }

        public init(_ configuration: SMTPConfiguration) {
            self.init(heloName: configuration.heloName, tls: configuration.tls,
                      credentials: configuration.credentials, allowPlaintextAuth: configuration.allowPlaintextAuth)
        }
    }

    public enum Action: Sendable, Hashable {
        /// Nothing to do: wait for the next reply.
        case none
        /// Write these commands in one write. More than one only when pipelining.
        case send([SMTPCommand])
        /// The server answered DATA with 354: write this message, dot-stuffed and
        /// terminated (`SMTPDataEncoder`), then wait for the reply.
        case sendMessage(ByteBuffer)
        /// The server answered DATA with 354 and the transaction holds its content:
        /// report `contentReleased()` or `contentWithheld(_:)` once the caller decides.
        case awaitContentRelease
        /// The server agreed to STARTTLS and nothing else is buffered: put TLS in front of
        /// the session now, then report `tlsHandshakeCompleted()`.
        case startTLS
        /// The session is ready for transactions (after greeting, EHLO, TLS, AUTH).
        case sessionReady(SMTPCapabilities)
        /// The transaction is over. When `closeConnection` is true the server went away
        /// (421) or the session cannot continue; otherwise the session is ready again.
        case transactionCompleted(SMTPTransactionResult, closeConnection: Bool)
        /// `startTransaction` was refused before anything was written; the session is
        /// unchanged.
        case rejectTransaction(SMTPError)
        /// The session failed: fail the pending operation with this error and close.
        case fail(SMTPError)
        /// The server answered QUIT (or had already gone): close the connection.
        case quitCompleted
    }

    /// Which RFC 5321 §4.5.3.2 limit applies to the reply being awaited. Each limit is a
    /// deadline for the whole reply (every line of it), set when the wait begins: bytes
    /// that trickle in do not move it.
    public enum Wait: Sendable, Hashable {
        /// `ehlo` covers HELO too; `command` is STARTTLS, AUTH, RSET and QUIT.
        /// `dataBlock` runs while the content is being written, `endOfData` once it is out.
        case greeting, ehlo, command, tlsHandshake, mail, rcpt, data, dataBlock, endOfData
    }

    private struct Transaction: Sendable {
        /// `held`: 354 arrived, the content waits for the caller's release.
        enum Phase: Sendable { case mail, rcpt, data, held, message, emptyMessage, reset }
        var transaction: SMTPTransaction
        var pipelined: Bool
        var holdsContent = false
        /// The content (or the empty message) has been written out in full.
        var contentWritten = false
        var phase: Phase = .mail
        var mailReply: SMTPReply?
        var rcptReplies: [SMTPReply] = []
        var dataReply: SMTPReply?
        var messageReply: SMTPReply?

        var anyRecipientAccepted: Bool { rcptReplies.contains { $0.isPositiveCompletion } }
        var mailAccepted: Bool { mailReply?.isPositiveCompletion ?? false }
    }

    private enum State: Sendable {
        case awaitingGreeting
        case ehloSent
        case heloSent
        case startTLSSent
        case tlsHandshaking
        case authPlainSent
        case authLoginSent
        case authUsernameSent
        case authPasswordSent
        case ready
        case transaction(Transaction)
        case quitSent
        case closed
    }

    public let configuration: Configuration
    private var state: State = .awaitingGreeting
    /// The greeting, once received.
    public private(set) var greeting: SMTPReply?
    /// The capabilities from the latest EHLO (after STARTTLS, the new ones).
    public private(set) var capabilities: SMTPCapabilities?
    /// True once TLS protects the session (implicit TLS, or after STARTTLS).
    public private(set) var isTLSActive: Bool
    /// True when opportunistic TLS was refused by the server and the session went on in clear text.
    public private(set) var startTLSWasRefused = false
    /// The last command written, for error messages.
    public private(set) var lastCommand: SMTPCommand?
    /// Transactions completed on this session.
    public private(set) var completedTransactions = 0

    /// `tlsActive` is true when the connection starts inside TLS (implicit TLS).
    public init(configuration: Configuration, tlsActive: Bool = false) {
        self.configuration = configuration
        self.isTLSActive = tlsActive
    }

    /// Ready for `startTransaction`.
    public var isReady: Bool { if case .ready = state { true } else { false } }
    /// The session ended (failed, quit or closed).
    public var isClosed: Bool { if case .closed = state { true } else { false } }

    /// The time limit for the reply being awaited, nil when no reply is awaited.
    public var wait: Wait? {
        switch state {
        case .awaitingGreeting: .greeting
        case .ehloSent, .heloSent: .ehlo
        case .startTLSSent, .authPlainSent, .authLoginSent, .authUsernameSent, .authPasswordSent, .quitSent: .command
        case .tlsHandshaking: .tlsHandshake
        case .ready, .closed: nil
        case .transaction(let transaction):
            switch transaction.phase {
            case .mail: .mail
            case .rcpt: .rcpt
            // Held content waits for the caller, not the server, and no longer than
            // the server waited for DATA.
            case .data, .held: .data
            case .message, .emptyMessage: transaction.contentWritten ? .endOfData : .dataBlock
            case .reset: .command
            }
        }
    }

    // MARK: Events

    /// A complete reply arrived. `unprocessedBytes` is how much input is already
    /// buffered after it: after a 220 to STARTTLS it must be zero, and once every command
    /// written has its reply, anything more is a reply to nothing — one reply too many,
    /// which would otherwise be read as the answer to the next command and shift every
    /// reply after it onto the wrong recipient.
    public mutating func replyReceived(_ reply: SMTPReply, unprocessedBytes: Int = 0) -> Action {
        let contentSent = contentMayHaveBeenSent
        let action = matchReply(reply, unprocessedBytes: unprocessedBytes)
        guard unprocessedBytes > 0 else { return action }
        switch action {
        case .send, .sendMessage, .awaitContentRelease, .sessionReady, .transactionCompleted(_, closeConnection: false):
            // A transaction that ends this way did not complete: its result is dropped.
            if case .transactionCompleted = action { completedTransactions -= 1 }
            return violation(reply: reply, contentSent: contentSent,
                             detail: "\(unprocessedBytes) more bytes followed the last reply owed")
        case .none, .startTLS, .transactionCompleted, .rejectTransaction, .fail, .quitCompleted:
            return action
        }
    }

    /// True once any of the current transaction's content may have left: from the moment
    /// it is written until the transaction ends.
    private var contentMayHaveBeenSent: Bool {
        if case .transaction(let transaction) = state, transaction.phase == .message { true } else { false }
    }

    private mutating func matchReply(_ reply: SMTPReply, unprocessedBytes: Int) -> Action {
        switch state {
        case .awaitingGreeting:
            greeting = reply
            if reply.code == 220 { return send(.ehlo(configuration.heloName), then: .ehloSent) }
            return fail(reply.isServiceClosing ? .serviceNotAvailable : .greetingRejected, reply: reply)

        case .transaction(var transaction):
            return transactionReply(reply, &transaction)

        case .quitSent:
            state = .closed
            return .quitCompleted

        case .closed:
            return .none

        default:
            if reply.isServiceClosing { return fail(.serviceNotAvailable, reply: reply) }
        }

        switch state {
        case .ehloSent:
            if !reply.isFailure && reply.code != 250 { return violation(reply: reply, contentSent: false, detail: "not a reply to EHLO") }
            if reply.code == 250 {
                capabilities = SMTPCapabilities(ehloReply: reply)
                return afterHello()
            }
            if reply.isPermanentFailure { return send(.helo(configuration.heloName), then: .heloSent) }
            return fail(.heloRejected, reply: reply)

        case .heloSent:
            if !reply.isFailure && reply.code != 250 { return violation(reply: reply, contentSent: false, detail: "not a reply to HELO") }
            guard reply.code == 250 else { return fail(.heloRejected, reply: reply) }
            capabilities = .helo(serverName: String(reply.lines[0].prefix { $0 != " " }))
            return afterHello()

        case .startTLSSent:
            if reply.code == 220 {
                // Anything already buffered was sent before the handshake, in clear text,
                // and would be read as if it came over TLS: refuse it.
                guard unprocessedBytes == 0 else {
                    return fail(.unencryptedDataAfterStartTLS, reply: reply,
                                detail: "\(unprocessedBytes) bytes followed the reply")
                }
                state = .tlsHandshaking
                return .startTLS
            }
            if !reply.isFailure { return violation(reply: reply, contentSent: false, detail: "not a reply to STARTTLS") }
            if configuration.tls == .required { return fail(.startTLSRefused, reply: reply) }
            startTLSWasRefused = true
            return authenticateOrReady()

        case .authPlainSent, .authPasswordSent:
            guard reply.code == 235 else { return fail(.authenticationFailed, reply: reply) }
            return ready()

        case .authLoginSent:
            guard reply.code == 334, let credentials = configuration.credentials else {
                return fail(.authenticationFailed, reply: reply)
            }
            return send(.authResponse(Base64.encode(Array(credentials.username.utf8))), then: .authUsernameSent)

        case .authUsernameSent:
            guard reply.code == 334, let credentials = configuration.credentials else {
                return fail(.authenticationFailed, reply: reply)
            }
            return send(.authResponse(Base64.encode(Array(credentials.password.utf8))), then: .authPasswordSent)

        case .ready, .tlsHandshaking:
            return violation(reply: reply, contentSent: false, detail: "a reply when no command was outstanding")

        case .awaitingGreeting, .transaction, .quitSent, .closed:
            preconditionFailure("handled above")
        }
    }

    /// The TLS handshake that `.startTLS` asked for succeeded: say EHLO again (RFC 3207
    /// §4.2: everything learnt before TLS is forgotten).
    public mutating func tlsHandshakeCompleted() -> Action {
        guard case .tlsHandshaking = state else {
            return fail(.unexpectedReply, detail: "TLS handshake completed outside STARTTLS")
        }
        isTLSActive = true
        capabilities = nil
        return send(.ehlo(configuration.heloName), then: .ehloSent)
    }

    /// True while the content of a transaction started `holdingContent` waits for
    /// `contentReleased()` or `contentWithheld(_:)`.
    public var isHoldingContent: Bool {
        if case .transaction(let transaction) = state, transaction.phase == .held { true } else { false }
    }

    /// The caller wants to send a transaction. With `holdingContent`, the envelope and
    /// DATA go out as usual, but after the 354 the content waits for the caller
    /// (`awaitContentRelease`): a caller that must make a durable note before the
    /// point where the message may be delivered makes it while the envelope is on the
    /// wire, not before.
    public mutating func startTransaction(_ transaction: SMTPTransaction, holdingContent: Bool = false) -> Action {
        switch state {
        case .ready: break
        case .closed: return .rejectTransaction(SMTPError(.connectionNotUsable))
        case .transaction, .quitSent: return .rejectTransaction(SMTPError(.busy))
        default: return .rejectTransaction(SMTPError(.busy, detail: "the session is not set up yet"))
        }
        guard !transaction.recipients.isEmpty else { return .rejectTransaction(SMTPError(.noRecipients)) }
        for address in [transaction.mailFrom] + transaction.recipients where !SMTPCommand.isSafeAddress(address) {
            return .rejectTransaction(SMTPError(.invalidAddress, detail: "\"\(SMTPReplyParser.printable(Array(address.utf8)))\""))
        }
        let capabilities = self.capabilities ?? .helo(serverName: "")
        let mail = SMTPCommand.mail(
            from: transaction.mailFrom,
            size: capabilities.size != nil ? transaction.message.readableBytes : nil,
            eightBitMIME: transaction.eightBitMIME && capabilities.eightBitMIME,
            smtpUTF8: transaction.smtpUTF8 && capabilities.smtpUTF8
        )
        var progress = Transaction(transaction: transaction, pipelined: capabilities.pipelining)
        progress.holdsContent = holdingContent
        if progress.pipelined {
            // RFC 2920 §3.1: MAIL, every RCPT and DATA as one group; DATA ends the group.
            let commands = [mail] + transaction.recipients.map { SMTPCommand.rcpt(to: $0) } + [.data]
            state = .transaction(progress)
            lastCommand = .data
            return .send(commands)
        }
        return send(mail, then: .transaction(progress))
    }

    /// The caller released held content: it goes out now.
    public mutating func contentReleased() -> Action {
        guard case .transaction(var transaction) = state, transaction.phase == .held else { return .none }
        transaction.phase = .message
        state = .transaction(transaction)
        return .sendMessage(transaction.transaction.message)
    }

    /// The caller withdrew held content. After a 354 there is no way back but to drop
    /// the connection (RFC 5321 §4.1.1.4: the server then discards what it received), so
    /// the session fails with `contentWithheld`; nothing of the message was sent.
    public mutating func contentWithheld(_ reason: String) -> Action {
        guard isHoldingContent else { return .none }
        return fail(.contentWithheld, detail: reason)
    }

    /// The content that `.sendMessage` asked for has been written in full: the data block
    /// limit gives way to the end-of-data limit, and a reply may now come.
    public mutating func messageWritten() -> Action {
        guard case .transaction(var transaction) = state,
              transaction.phase == .message || transaction.phase == .emptyMessage else { return .none }
        transaction.contentWritten = true
        state = .transaction(transaction)
        return .none
    }

    /// Bytes arrived that are not (yet) a reply while no reply is awaited: the server
    /// talks out of turn.
    public mutating func unsolicitedBytesReceived(_ count: Int) -> Action {
        guard wait == nil, !isClosed else { return .none }
        return violation(reply: nil, contentSent: false, detail: "\(count) bytes when no command was outstanding")
    }

    /// The caller wants to end the session politely.
    public mutating func quit() -> Action {
        switch state {
        case .closed: return .quitCompleted
        case .ready: return send(.quit, then: .quitSent)
        default: return fail(.connectionNotUsable, detail: "QUIT while an operation was running")
        }
    }

    /// The connection closed (by the server, or under us).
    public mutating func connectionClosed() -> Action {
        switch state {
        case .closed: return .none
        case .quitSent:
            state = .closed
            return .quitCompleted
        default:
            return errorCaught(SMTPError(.connectionClosed))
        }
    }

    /// Something outside the protocol went wrong (timeout, TLS error, malformed input).
    /// The session is over.
    public mutating func errorCaught(_ error: SMTPError) -> Action {
        var error = error
        switch state {
        case .closed: return .none
        case .transaction(let transaction) where transaction.phase == .message:
            if error.code == .connectionClosed || error.code == .replyTimeout {
                error.detail = [error.code.description, error.detail].compactMap { $0 }.joined(separator: ", ")
                error.code = .connectionClosedAfterData
            }
        default: break
        }
        if error.command == nil { error.command = lastCommand?.redacted }
        state = .closed
        return .fail(error)
    }

    // MARK: Steps

    private mutating func afterHello() -> Action {
        guard !isTLSActive else { return authenticateOrReady() }
        switch configuration.tls {
        case .none, .implicit:
            // `.implicit` with TLS inactive cannot happen: the connection starts in TLS.
            return authenticateOrReady()
        case .opportunistic:
            guard capabilities?.startTLS == true else { return authenticateOrReady() }
            return send(.startTLS, then: .startTLSSent)
        case .required:
            guard capabilities?.startTLS == true else { return fail(.tlsRequiredButNotOffered, detail: "the EHLO reply lists no STARTTLS") }
            return send(.startTLS, then: .startTLSSent)
        }
    }

    private mutating func authenticateOrReady() -> Action {
        guard let credentials = configuration.credentials else { return ready() }
        guard isTLSActive || configuration.allowPlaintextAuth else {
            let why = configuration.tls == .none ? "TLS is off (tls: none)" : "the server offers no STARTTLS"
            return fail(.plaintextAuthRefused, detail: "AUTH not sent: \(why)")
        }
        let mechanisms = capabilities?.authMechanisms ?? []
        if mechanisms.isEmpty { return fail(.authNotOffered) }
        if mechanisms.contains("PLAIN") {
            // RFC 4616: authzid NUL authcid NUL passwd.
            let message = [0] + Array(credentials.username.utf8) + [0] + Array(credentials.password.utf8)
            return send(.authPlain(initialResponse: Base64.encode(message)), then: .authPlainSent)
        }
        if mechanisms.contains("LOGIN") { return send(.authLogin, then: .authLoginSent) }
        return fail(.noSupportedAuthMechanism, detail: "server offers \(mechanisms.sorted().joined(separator: " "))")
    }

    private mutating func ready() -> Action {
        state = .ready
        return .sessionReady(capabilities ?? .helo(serverName: ""))
    }

    private mutating func transactionReply(_ reply: SMTPReply, _ transaction: inout Transaction) -> Action {
        if reply.isServiceClosing {
            if transaction.mailReply == nil { transaction.mailReply = reply }
            return completeTransaction(transaction, closingReply: reply)
        }
        let recipients = transaction.transaction.recipients
        switch transaction.phase {
        case .mail:
            // RFC 5321 §4.3.2: MAIL and RCPT answer 2xx, 4xx or 5xx, never 3xx.
            if reply.isIntermediate { return violation(reply: reply, contentSent: false, detail: "not a reply to MAIL") }
            transaction.mailReply = reply
            if transaction.pipelined {
                transaction.phase = .rcpt
                state = .transaction(transaction)
                return .none
            }
            guard reply.isPositiveCompletion else { return reset(&transaction) }
            transaction.phase = .rcpt
            return send(.rcpt(to: recipients[0]), then: .transaction(transaction))

        case .rcpt:
            if reply.isIntermediate { return violation(reply: reply, contentSent: false, detail: "not a reply to RCPT") }
            transaction.rcptReplies.append(reply)
            let answered = transaction.rcptReplies.count
            if transaction.pipelined {
                if answered == recipients.count { transaction.phase = .data }
                state = .transaction(transaction)
                return .none
            }
            if answered < recipients.count {
                return send(.rcpt(to: recipients[answered]), then: .transaction(transaction))
            }
            guard transaction.anyRecipientAccepted else { return reset(&transaction) }
            transaction.phase = .data
            return send(.data, then: .transaction(transaction))

        case .data:
            // 354 or a refusal. A 2xx here claims the message was taken before any of
            // it was sent: believing it would record every recipient sent.
            if !reply.isFailure && reply.code != 354 {
                return violation(reply: reply, contentSent: false, detail: "DATA must be answered 354 or refused")
            }
            transaction.dataReply = reply
            guard reply.code == 354 else { return reset(&transaction) }
            if transaction.mailAccepted && transaction.anyRecipientAccepted {
                transaction.phase = transaction.holdsContent ? .held : .message
                state = .transaction(transaction)
                return transaction.holdsContent ? .awaitContentRelease : .sendMessage(transaction.transaction.message)
            }
            // RFC 2920 §3.1: a pipelining server said 354 although no recipient was
            // accepted; end the data at once with an empty message.
            transaction.phase = .emptyMessage
            state = .transaction(transaction)
            return .sendMessage(ByteBuffer())

        case .held:
            // After its 354 the server waits for the content; it has nothing to say.
            return violation(reply: reply, contentSent: false, detail: "a reply while the message content was held")

        case .message, .emptyMessage:
            // A reply before the final "." was written answers something else; a 3xx is
            // no answer to the end of data at all.
            if !transaction.contentWritten {
                return violation(reply: reply, contentSent: transaction.phase == .message,
                                 detail: "a reply before the message was written out")
            }
            if reply.isIntermediate {
                return violation(reply: reply, contentSent: transaction.phase == .message, detail: "not a reply to the end of data")
            }
            if transaction.phase == .message { transaction.messageReply = reply }
            return completeTransaction(transaction, closingReply: nil)

        case .reset:
            if reply.isIntermediate { return violation(reply: reply, contentSent: false, detail: "not a reply to RSET") }
            return completeTransaction(transaction, closingReply: reply.isPositiveCompletion ? nil : reply)
        }
    }

    /// A transaction failed before its message was sent: RSET so the session is clean.
    private mutating func reset(_ transaction: inout Transaction) -> Action {
        transaction.phase = .reset
        return send(.rset, then: .transaction(transaction))
    }

    private mutating func completeTransaction(_ transaction: Transaction, closingReply: SMTPReply?) -> Action {
        let fallback = closingReply ?? SMTPReply(code: 451, lines: ["no reply"])
        let mailReply = transaction.mailReply ?? fallback
        let dataOutcome = transaction.messageReply
            ?? transaction.dataReply.flatMap { $0.code == 354 ? nil : $0 }
        let outcomes = transaction.transaction.recipients.enumerated().map { index, recipient in
            let rcptReply = index < transaction.rcptReplies.count ? transaction.rcptReplies[index] : nil
            let decisive: SMTPReply
            if !mailReply.isPositiveCompletion {
                decisive = mailReply
            } else if let rcptReply, !rcptReply.isPositiveCompletion {
                decisive = rcptReply
            } else if rcptReply != nil, let dataOutcome {
                decisive = dataOutcome
            } else {
                decisive = fallback
            }
            return SMTPRecipientOutcome(recipient: recipient, status: SMTPReplyStatus(decisive), reply: decisive, rcptReply: rcptReply)
        }
        let result = SMTPTransactionResult(recipients: outcomes, mailReply: mailReply, dataReply: dataOutcome)
        completedTransactions += 1
        let close = closingReply != nil
        state = close ? .closed : .ready
        return .transactionCompleted(result, closeConnection: close)
    }

    private mutating func send(_ command: SMTPCommand, then next: State) -> Action {
        state = next
        lastCommand = command
        return .send([command])
    }

    /// A reply that cannot belong to the command it would answer: one too many, one
    /// missing, or out of order. The session is dropped and no reply is attributed to
    /// anyone. After content may have left, the message is in doubt
    /// (`connectionClosedAfterData`); before, nothing of it was delivered (`protocolViolation`).
    ///
    /// The offending reply is named in the detail, not carried as the error's `reply`: it
    /// answers no command, so nothing downstream may classify it as if it did (a 354 taken
    /// as a reply would read as accepted).
    private mutating func violation(reply: SMTPReply?, contentSent: Bool, detail: String) -> Action {
        var detail = detail
        if let reply { detail += ": server sent \"\(reply.description.split(separator: "\n").joined(separator: " / "))\"" }
        if contentSent {
            return fail(.connectionClosedAfterData, detail: "protocol violation: \(detail)")
        }
        return fail(.protocolViolation, detail: detail)
    }

    private mutating func fail(_ code: SMTPError.Code, reply: SMTPReply? = nil, detail: String? = nil) -> Action {
        state = .closed
        return .fail(SMTPError(code, command: lastCommand?.redacted, reply: reply, detail: detail))
    }
}
