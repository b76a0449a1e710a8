import Foundation
import SMTP

/// Opens an SMTP session to one destination; `SMTPConnection.connect` in production.
public typealias SMTPConnector = @Sendable (_ destination: Destination, _ address: String) async throws -> SMTPConnection

/// The connections to one destination site: at most `maxConnections` open at once, each
/// reused for up to `messagesPerConnection` transactions and then closed with QUIT, idle
/// ones closed after `idleTimeout`. Callers wait in line, first come first served, when
/// every connection is busy.
///
/// A new connection tries the site's destinations in order (MX preference), and each
/// one's addresses: a host that refuses the connection, cannot be reached, or greets with
/// a 4xx/5xx is passed over for the next, so mail reaches a backup MX when the primary is
/// down. When none takes it, the waiter it was for gets the `SMTPError` of the attempt.
///
/// With `Leases.shared`, every connection first takes a lease from the store, so the
/// site's limit holds for all the processes sending from that store; a waiter waits while
/// the store has none to give.
///
/// A pool of several lanes (a connector each, one per source address of
/// `source_addresses:`) holds up to `maxConnections` in each: a provider counts
/// connections per sending IP.
///
/// The decisions are `StateMachine`'s; this actor only carries out its actions and
/// reports what came of them, so nothing it knew before an await is trusted after it.
public actor SitePool {
    public let site: String
    public private(set) var destinations: [Destination]
    public let messagesPerConnection: Int
    /// Each lane's connector, which makes its connections from the lane's source address.
    private let connectors: [SMTPConnector]
    private let leases: Leases
    private let clock: Clock

    private var machine: StateMachine<Clock.Instant>
    private var waiters: [Int: CheckedContinuation<SMTPConnection, any Error>] = [:]
    private var nextWaiter = 0
    private var connections: [Int: SMTPConnection] = [:]
    private var connectionIDs: [ObjectIdentifier: Int] = [:]
    /// The idle or lease-retry timer of a connection (it has at most one at a time).
    private var timers: [Int: Task<Void, Never>] = [:]
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []

    /// - Parameters:
    ///   - maxConnections: the limit of each lane.
    ///   - leases: store-wide connection leases (`.shared`, with as many lanes as `lanes`);
    ///     `.none` for this pool's limit only.
    ///   - clock: the time the idle and lease-retry timers run on.
    ///   - connectors: one per lane, at least one.
    public init<C: _Concurrency.Clock>(site: String, destinations: [Destination], maxConnections: Int,
                                       messagesPerConnection: Int, idleTimeout: Duration = .seconds(5),
                                       leases: Leases = .none, clock: C = ContinuousClock(),
                                       connectors: [SMTPConnector]) where C.Duration == Duration {
        precondition(!connectors.isEmpty && leases.fit(lanes: connectors.count), "a pool needs a lane, and leases for each")
        self.site = site
        self.destinations = destinations
        self.messagesPerConnection = max(1, messagesPerConnection)
        self.connectors = connectors
        self.leases = leases
        self.clock = Clock(clock)
        machine = StateMachine(settings: .init(
            maxConnections: maxConnections, lanes: connectors.count, idleTimeout: idleTimeout, usesLeases: leases.isEnabled,
            leaseRetryInterval: leases.retryInterval, longestLeaseWait: leases.longestWait))
    }

    /// A pool of one lane: connections from the address the system (or the connector) picks.
    public init<C: _Concurrency.Clock>(site: String, destinations: [Destination], maxConnections: Int,
                                       messagesPerConnection: Int, idleTimeout: Duration = .seconds(5),
                                       leases: Leases = .none, clock: C = ContinuousClock(),
                                       connector: @escaping SMTPConnector) where C.Duration == Duration {
        self.init(site: site, destinations: destinations, maxConnections: maxConnections,
                  messagesPerConnection: messagesPerConnection, idleTimeout: idleTimeout, leases: leases, clock: clock,
                  connectors: [connector])
    }

    /// The ceiling of open connections in each lane right now (adaptive back-off lowers it).
    public var maxConnections: Int { machine.maxConnections }
    /// The most connections open (or being opened or closed) at once so far, all lanes together.
    public var peakOpen: Int { machine.peak }
    /// The most connections open (or being opened or closed) at once so far in each lane.
    public var lanePeaks: [Int] { machine.lanePeaks }
    /// Connections open, being opened or being closed now.
    public var openCount: Int { machine.count }
    /// Callers waiting for a connection now.
    public var waitingCount: Int { machine.waiting }
    /// Open connections nobody is using now.
    public var idleCount: Int { machine.idleCount }

    /// Runs `body` with a connection of this pool, returning the connection to the pool
    /// (or closing it when it is spent or broken) afterwards.
    public func withConnection<T: Sendable>(_ body: @Sendable (SMTPConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let result = try await body(connection)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    /// Lowers or raises the ceiling: idle connections beyond it close now, busy ones when
    /// they come back.
    public func setMaxConnections(_ value: Int) {
        run(machine.setMaxConnections(value, now: clock.now()))
    }

    /// The destinations changed (a new DNS answer); connections opened from now on use them.
    public func setDestinations(_ value: [Destination]) {
        destinations = value
    }

    /// Refuses new work, fails whoever waits, and returns once every connection is closed
    /// (with QUIT) and every lease returned. Connections in use close as they come back.
    public func shutdown() async {
        run(machine.shutdown())
        guard !machine.isShutDown else { return }
        await withCheckedContinuation { shutdownWaiters.append($0) }
    }

    // MARK: - Leasing

    /// A connection of this pool, for a caller that sends several transactions on it (the
    /// engine's workers); give it back with `release`, always. Waits in line when every
    /// connection is busy. Throws the `SMTPError` of the attempt when no destination took a
    /// connection, `SitePoolError` when the pool is shut down or no lease came in time, and
    /// `CancellationError` when the caller's task is cancelled while it waits.
    public func acquire() async throws -> SMTPConnection {
        let waiter = nextWaiter
        nextWaiter += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters[waiter] = continuation
                run(machine.acquire(waiter, now: clock.now()))
            }
        } onCancel: {
            Task { await self.cancel(waiter) }
        }
    }

    /// Returns a connection from `acquire` to the pool, or closes it when it is spent,
    /// broken, or beyond a lowered ceiling.
    public func release(_ connection: SMTPConnection) {
        guard let id = connectionIDs[ObjectIdentifier(connection)] else { return }
        let returned: StateMachine<Clock.Instant>.Return =
            !connection.isUsable ? .broken : connection.transactionCount >= messagesPerConnection ? .spent : .reusable
        run(machine.connectionReleased(id, returned, now: clock.now()))
    }

    private func cancel(_ waiter: Int) {
        run(machine.cancel(waiter))
    }

    // MARK: - Running the state machine's actions

    private func run(_ actions: [StateMachine<Clock.Instant>.Action]) {
        for action in actions {
            switch action {
            case .leaseConnection(let id, let lane):
                Task { await self.lease(id, lane: lane) }
            case .returnLease(_, let lane):
                let leases = self.leases
                Task { await leases.giveBack(lane: lane) }
            case .scheduleLeaseRetry(let id, let deadline):
                schedule(id, .leaseRetry, at: deadline)
            case .scheduleIdleTimer(let id, let deadline):
                schedule(id, .idle, at: deadline)
            case .cancelLeaseRetry(let id), .cancelIdleTimer(let id):
                timers.removeValue(forKey: id)?.cancel()
            case .openConnection(let id, let lane):
                let destinations = self.destinations
                let connector = connectors[lane]
                Task { await self.open(id, destinations: destinations, connector: connector) }
            case .handOver(let id, let waiter):
                guard let connection = connections[id] else { continue }
                guard let continuation = waiters.removeValue(forKey: waiter) else {
                    // Not reachable while the machine and this actor agree on the waiters;
                    // should it happen, the connection goes back rather than leak.
                    run(machine.connectionReleased(id, .reusable, now: clock.now()))
                    continue
                }
                if connection.isUsable {
                    continuation.resume(returning: connection)
                } else {
                    waiters[waiter] = continuation
                    run(machine.connectionWasStale(id, waiter: waiter, now: clock.now()))
                }
            case .failWaiter(let waiter, let failure):
                waiters.removeValue(forKey: waiter)?.resume(throwing: error(for: failure))
            case .closeConnection(let id, let quit):
                guard let connection = connections[id] else { continue }
                Task {
                    if quit { await connection.quit() } else { await connection.close() }
                    self.closed(id)
                }
            case .shutdownComplete:
                let waiting = shutdownWaiters
                shutdownWaiters.removeAll()
                for waiter in waiting { waiter.resume() }
            }
        }
    }

    private enum Timer {
        case idle, leaseRetry
    }

    private func schedule(_ id: Int, _ timer: Timer, at deadline: Clock.Instant) {
        timers.removeValue(forKey: id)?.cancel()
        let clock = self.clock
        timers[id] = Task {
            do { try await clock.sleep(deadline) } catch { return }
            self.fired(timer, id)
        }
    }

    private func fired(_ timer: Timer, _ id: Int) {
        timers[id] = nil
        switch timer {
        case .idle: run(machine.idleTimerFired(id, now: clock.now()))
        case .leaseRetry: run(machine.leaseRetryFired(id, now: clock.now()))
        }
    }

    private func lease(_ id: Int, lane: Int) async {
        let granted = await leases.take(lane: lane)
        let now = clock.now()
        run(granted ? machine.leaseGranted(id, now: now) : machine.leaseRefused(id, now: now))
    }

    private func open(_ id: Int, destinations: [Destination], connector: SMTPConnector) async {
        do {
            let connection = try await connect(destinations, with: connector)
            connections[id] = connection
            connectionIDs[ObjectIdentifier(connection)] = id
            run(machine.connectionOpened(id, now: clock.now()))
        } catch {
            run(machine.connectionFailed(id, error: error, now: clock.now()))
        }
    }

    private func closed(_ id: Int) {
        if let connection = connections.removeValue(forKey: id) {
            connectionIDs[ObjectIdentifier(connection)] = nil
        }
        run(machine.connectionClosed(id, now: clock.now()))
    }

    /// A session with the first destination address that takes one, in order. When none
    /// does, the error of the attempt that says most: a sender-side failure (the engine
    /// stops the route for it) before the last destination's own reason, the others named
    /// in its detail.
    private nonisolated func connect(_ destinations: [Destination],
                                     with connector: SMTPConnector) async throws(SMTPError) -> SMTPConnection {
        var failures: [(destination: Destination, address: String, error: SMTPError)] = []
        for destination in destinations {
            for address in destination.addresses {
                do {
                    return try await connector(destination, address)
                } catch let error as SMTPError {
                    failures.append((destination, address, error))
                } catch {
                    failures.append((destination, address,
                                     SMTPError(.connectFailed, detail: "\(error)", server: "\(address):\(destination.port)")))
                }
            }
        }
        guard let chosen = failures.lastIndex(where: { $0.error.scope == .sender }) ?? failures.indices.last else {
            throw SMTPError(.connectFailed, detail: "the site \(site) has no destination address")
        }
        var error = failures[chosen].error
        let others = failures.indices.filter { $0 != chosen }
            .map { "\(failures[$0].destination.host) [\(failures[$0].address)]: \(failures[$0].error)" }
        error.detail = [error.detail, others.isEmpty ? nil : "also tried \(others.joined(separator: "; "))",
                        "no destination of \(site) accepted a connection"]
            .compactMap { $0 }.joined(separator: "; ")
        throw error
    }

    private func error(for failure: StateMachine<Clock.Instant>.Failure) -> any Error {
        switch failure {
        case .connect(let error): error
        case .shutDown: SitePoolError.shutDown(site)
        case .cancelled: CancellationError()
        case .noLease(let waited): SitePoolError.noConnectionLease(site, keys: leases.keys.map(\.name), waited: waited)
        }
    }
}
