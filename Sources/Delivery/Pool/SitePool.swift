import Foundation
import NIOCore
import SMTP

/// Opens an SMTP session to one destination; `SMTPConnection.connect` in production.
public typealias SMTPConnector = @Sendable (_ destination: Destination, _ address: String) async throws -> SMTPConnection

/// The connections to one destination site: at most `maxConnections` open at once, each
/// reused for up to `messagesPerConnection` transactions and then closed with QUIT,
/// idle ones closed after `idleTimeout`.
///
/// A new connection tries the site's destinations in order (MX preference), and each
/// one's addresses: a host that refuses the connection, cannot be reached, or greets with
/// a 4xx/5xx is passed over for the next, so mail reaches a backup MX when the primary is
/// down. Callers wait in line, first come first served, when every connection is busy.
public actor SitePool {
    public let site: String
    public private(set) var destinations: [Destination]
    /// The ceiling of open connections right now (adaptive back-off lowers it).
    public private(set) var maxConnections: Int
    public let messagesPerConnection: Int
    private let idleTimeout: Duration
    private let connector: SMTPConnector

    private var idle: [(connection: SMTPConnection, since: ContinuousClock.Instant)] = []
    /// Connections open or being opened (idle ones included).
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var sweeper: Task<Void, Never>?
    private var closed = false
    /// The most connections open at once so far (for tests and the summary).
    public private(set) var peakOpen = 0

    public init(site: String, destinations: [Destination], maxConnections: Int, messagesPerConnection: Int,
                idleTimeout: Duration = .seconds(5), connector: @escaping SMTPConnector) {
        self.site = site
        self.destinations = destinations
        self.maxConnections = max(1, maxConnections)
        self.messagesPerConnection = max(1, messagesPerConnection)
        self.idleTimeout = idleTimeout
        self.connector = connector
    }

    /// Runs `body` with a connection of this pool, returning the connection to the pool
    /// (or closing it when it is spent or broken) afterwards.
    public func withConnection<T: Sendable>(_ body: @Sendable (SMTPConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Lowers or raises the ceiling; busy connections beyond it close when released.
    public func setMaxConnections(_ value: Int) {
        maxConnections = max(1, value)
        wakeWaiters()
    }

    /// The destinations changed (a new DNS answer).
    public func setDestinations(_ value: [Destination]) {
        destinations = value
    }

    /// Closes every idle connection with QUIT and refuses new work.
    public func shutdown() async {
        closed = true
        sweeper?.cancel()
        let toClose = idle.map(\.connection)
        idle.removeAll()
        for connection in toClose { await connection.quit() }
        open -= toClose.count
        wakeWaiters()
    }

    // MARK: - Leasing

    /// A connection of this pool, for a caller that sends several transactions on it
    /// (the engine's workers); give it back with `release`, always. Waits in line when
    /// every connection is busy.
    public func acquire() async throws -> SMTPConnection {
        while true {
            if closed { throw SitePoolError.shutDown(site) }
            while let candidate = idle.popLast() {
                if candidate.connection.isUsable { return candidate.connection }
                await candidate.connection.close()
                open -= 1
            }
            if open < maxConnections {
                open += 1
                peakOpen = max(peakOpen, open)
                do {
                    return try await connect()
                } catch {
                    open -= 1
                    wakeWaiters()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    /// Returns a connection from `acquire` to the pool, or closes it when it is spent,
    /// broken, or beyond a lowered ceiling.
    public func release(_ connection: SMTPConnection) async {
        let reusable = !closed && connection.isUsable && connection.transactionCount < messagesPerConnection
            && open <= maxConnections
        if reusable {
            idle.append((connection, .now))
            startSweeper()
        } else {
            // The slot frees only once the old session is gone: the site never sees one
            // more connection than its limit, not even for a moment.
            if connection.isUsable { await connection.quit() } else { await connection.close() }
            open -= 1
        }
        wakeWaiters()
    }

    private func wakeWaiters() {
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume() }
    }

    private func connect() async throws -> SMTPConnection {
        var failures: [String] = []
        for destination in destinations {
            for address in destination.addresses {
                do {
                    return try await connector(destination, address)
                } catch {
                    failures.append("\(destination.host) [\(address)]: \(error)")
                }
            }
        }
        throw SitePoolError.noDestinationAccepted(site, failures)
    }

    // MARK: - Idle connections

    private func startSweeper() {
        guard sweeper == nil else { return }
        let interval = idleTimeout
        sweeper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval / 2)
                guard let self, await self.sweep() else { return }
            }
        }
    }

    /// Closes connections idle for longer than the timeout; false when none is left.
    private func sweep() async -> Bool {
        let now = ContinuousClock.now
        let stale = idle.filter { now - $0.since >= idleTimeout }
        idle.removeAll { now - $0.since >= idleTimeout }
        for entry in stale { await entry.connection.quit() }
        open -= stale.count
        if !stale.isEmpty { wakeWaiters() }
        if idle.isEmpty {
            sweeper = nil
            return false
        }
        return true
    }
}

public enum SitePoolError: Error, CustomStringConvertible, Equatable {
    case shutDown(String)
    /// Every destination refused, was unreachable or greeted with an error.
    case noDestinationAccepted(String, [String])

    public var description: String {
        switch self {
        case .shutDown(let site): "the pool for \(site) is shut down"
        case .noDestinationAccepted(let site, let failures):
            "no destination of \(site) accepted a connection: \(failures.joined(separator: "; "))"
        }
    }
}
