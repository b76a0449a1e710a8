import SMTP

extension SitePool {
    /// The pool's decisions, with no I/O and no clock of its own: every event comes in with
    /// the time it happened, and what the pool must do comes out as actions for the runner
    /// (`SitePool`) to perform. After performing one that awaits (a lease, a connect, a
    /// QUIT), the runner reports back with another event, so the pool decides on the state
    /// it is in then, never on what it remembered before the await.
    ///
    /// The rules it keeps:
    /// - Waiters are served first come, first served: a connection coming free goes to the
    ///   oldest waiter, and a failure is reported to the oldest waiter.
    /// - Connections open, being opened, waiting for a lease or being closed never number
    ///   more than the limit: a slot frees only once its connection is gone, so the site
    ///   never sees one connection more than its limit, not even for a moment.
    /// - With several lanes (one per source address, `source_addresses:`), the limit is
    ///   each lane's: a provider counts connections per sending IP. A new connection goes to
    ///   the lane with the fewest, taking turns on a tie, so the addresses share the work
    ///   evenly even when connections are opened one after another.
    /// - A connection is only opened for a waiter that no idle connection or pending open
    ///   can serve.
    /// - A lowered limit closes idle connections beyond it at once and busy ones as they
    ///   come back; a raised one opens connections for whoever waits.
    /// - With shared limits, a connection is opened only with a lease from the store; a
    ///   refused lease is asked again after `leaseRetryInterval`, and a waiter that has
    ///   waited `longestLeaseWait` for one is told so rather than waiting for ever.
    struct StateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
        typealias ConnectionID = Int
        typealias WaiterID = Int

        struct Settings: Sendable, Hashable {
            /// The limit of each lane.
            var maxConnections: Int
            /// Lanes of connections, each with `maxConnections` of its own: one per source
            /// address, or one for the system's choice.
            var lanes: Int
            var idleTimeout: Duration
            /// Whether every connection needs a lease from the store first.
            var usesLeases: Bool
            var leaseRetryInterval: Duration
            var longestLeaseWait: Duration

            init(maxConnections: Int, lanes: Int = 1, idleTimeout: Duration, usesLeases: Bool = false,
                 leaseRetryInterval: Duration = .milliseconds(500), longestLeaseWait: Duration = .seconds(300)) {
                self.maxConnections = max(1, maxConnections)
                self.lanes = max(1, lanes)
                self.idleTimeout = idleTimeout
                self.usesLeases = usesLeases
                self.leaseRetryInterval = leaseRetryInterval
                self.longestLeaseWait = longestLeaseWait
            }
        }

        /// Why a waiter got no connection.
        enum Failure: Sendable, Hashable {
            /// No destination of the site took a connection; the error of the attempt.
            case connect(SMTPError)
            case shutDown
            case cancelled
            /// Every connection the store allows was held by some sender for this long.
            case noLease(waited: Duration)
        }

        /// How a connection came back from its user.
        enum Return: Sendable, Hashable {
            /// Fit for another transaction.
            case reusable
            /// Fine, but has carried its share of messages: closed with QUIT.
            case spent
            /// Failed or dropped by the server: closed without a word.
            case broken
        }

        typealias Lane = Int

        enum Action: Sendable, Hashable {
            /// Ask the store for a lease of this connection in its lane; answer with
            /// `leaseGranted` or `leaseRefused`.
            case leaseConnection(ConnectionID, lane: Lane = 0)
            /// Give back the lease this connection held in its lane.
            case returnLease(ConnectionID, lane: Lane = 0)
            case scheduleLeaseRetry(ConnectionID, at: Instant)
            case cancelLeaseRetry(ConnectionID)
            /// Connect to the site's destinations in order, from the lane's source address;
            /// answer with `connectionOpened` or `connectionFailed`.
            case openConnection(ConnectionID, lane: Lane = 0)
            /// The connection is the waiter's now; answer with `connectionReleased` when it
            /// comes back, or `connectionWasStale` when it turns out to be dead already.
            case handOver(ConnectionID, to: WaiterID)
            case failWaiter(WaiterID, Failure)
            /// Close it (with QUIT when `quit`), then answer with `connectionClosed`.
            case closeConnection(ConnectionID, quit: Bool)
            case scheduleIdleTimer(ConnectionID, at: Instant)
            case cancelIdleTimer(ConnectionID)
            /// Every connection is closed and every lease returned after `shutdown`.
            case shutdownComplete
        }

        private enum Slot: Hashable {
            /// A lease was asked for and not answered yet.
            case leasing
            /// The lease was refused; it is asked again when the retry timer fires.
            case waitingForLease
            case connecting
            case idle(since: Instant)
            case inUse
            /// Being closed; it still counts against the limit until it is gone.
            case closing

            var isPending: Bool {
                switch self {
                case .leasing, .waitingForLease, .connecting: true
                case .idle, .inUse, .closing: false
                }
            }
        }

        private struct Connection: Hashable {
            var slot: Slot
            var lane: Lane
            var holdsLease = false
        }

        private struct Waiter: Hashable {
            var id: WaiterID
            var since: Instant
        }

        private enum Lifecycle: Hashable {
            case running, shuttingDown, shutDown
        }

        private(set) var settings: Settings
        private var connections: [ConnectionID: Connection] = [:]
        /// Idle connections, the one that came back last at the end: it is handed out first,
        /// so the others age and their idle timers close them when traffic falls.
        private var idle: [ConnectionID] = []
        private var waiters: [Waiter] = []
        private var nextConnectionID: ConnectionID = 0
        private var lifecycle = Lifecycle.running
        /// The most connections counted against the limits at once so far, all lanes together.
        private(set) var peak = 0
        /// The most connections counted against each lane's limit at once so far.
        private(set) var lanePeaks: [Int]
        /// The lane whose turn it is when several have the fewest connections.
        private var laneTurn: Lane = 0

        init(settings: Settings) {
            self.settings = settings
            lanePeaks = Array(repeating: 0, count: settings.lanes)
        }

        var maxConnections: Int { settings.maxConnections }
        var isShutDown: Bool { lifecycle == .shutDown }
        /// Connections open, being opened or closed: what counts against the limits.
        var count: Int { connections.count }
        /// The lane connection `id` is in, while the pool knows it.
        func lane(of id: ConnectionID) -> Lane? { connections[id]?.lane }
        var waiting: Int { waiters.count }
        var idleCount: Int { idle.count }

        // MARK: - Events

        mutating func acquire(_ waiter: WaiterID, now: Instant) -> [Action] {
            guard lifecycle == .running else { return [.failWaiter(waiter, .shutDown)] }
            waiters.append(Waiter(id: waiter, since: now))
            return serve(now: now)
        }

        /// The waiter's task was cancelled while it waited.
        mutating func cancel(_ waiter: WaiterID) -> [Action] {
            guard let index = waiters.firstIndex(where: { $0.id == waiter }) else { return [] }
            waiters.remove(at: index)
            // A pending open made for it is not stopped: its connection serves the next
            // waiter or goes idle.
            return [.failWaiter(waiter, .cancelled)]
        }

        mutating func leaseGranted(_ id: ConnectionID, now: Instant) -> [Action] {
            guard let lane = connections[id]?.lane, connections[id]?.slot == .leasing else { return [] }
            connections[id]?.holdsLease = true
            if isNeeded(id) {
                connections[id]?.slot = .connecting
                return [.openConnection(id, lane: lane)]
            }
            connections[id] = nil
            return [.returnLease(id, lane: lane)] + finishShutdownIfDone()
        }

        mutating func leaseRefused(_ id: ConnectionID, now: Instant) -> [Action] {
            guard connections[id]?.slot == .leasing else { return [] }
            var actions: [Action] = []
            // Every waiter is behind this refusal: the ones that have waited their longest
            // hear so, oldest first; the rest keep their places.
            while let first = waiters.first, first.since.duration(to: now) >= settings.longestLeaseWait {
                waiters.removeFirst()
                actions.append(.failWaiter(first.id, .noLease(waited: first.since.duration(to: now))))
            }
            if isNeeded(id) {
                connections[id]?.slot = .waitingForLease
                actions.append(.scheduleLeaseRetry(id, at: now.advanced(by: settings.leaseRetryInterval)))
            } else {
                connections[id] = nil
                actions += finishShutdownIfDone()
            }
            return actions
        }

        mutating func leaseRetryFired(_ id: ConnectionID, now: Instant) -> [Action] {
            guard let lane = connections[id]?.lane, connections[id]?.slot == .waitingForLease else { return [] }
            if isNeeded(id) {
                connections[id]?.slot = .leasing
                return [.leaseConnection(id, lane: lane)]
            }
            connections[id] = nil
            return finishShutdownIfDone()
        }

        mutating func connectionOpened(_ id: ConnectionID, now: Instant) -> [Action] {
            guard let connection = connections[id], connection.slot == .connecting else { return [] }
            if lifecycle != .running || live(in: connection.lane) > settings.maxConnections {
                connections[id]?.slot = .closing
                return [.closeConnection(id, quit: true)]
            }
            return settle(id, now: now)
        }

        /// No destination of the site took the connection; `error` is the attempt's.
        mutating func connectionFailed(_ id: ConnectionID, error: SMTPError, now: Instant) -> [Action] {
            guard let connection = connections[id], connection.slot == .connecting else { return [] }
            connections[id] = nil
            var actions: [Action] = connection.holdsLease ? [.returnLease(id, lane: connection.lane)] : []
            // The open was for the oldest waiter no other pending open covers: it hears why,
            // and the engine decides what the failure means for the site.
            if waiters.count > pending {
                actions.append(.failWaiter(waiters.removeFirst().id, .connect(error)))
            }
            return actions + serve(now: now) + finishShutdownIfDone()
        }

        mutating func connectionReleased(_ id: ConnectionID, _ returned: Return, now: Instant) -> [Action] {
            guard let connection = connections[id], connection.slot == .inUse else { return [] }
            switch returned {
            case .broken:
                connections[id]?.slot = .closing
                return [.closeConnection(id, quit: false)]
            case .spent:
                connections[id]?.slot = .closing
                return [.closeConnection(id, quit: true)]
            case .reusable:
                if lifecycle != .running || live(in: connection.lane) > settings.maxConnections {
                    connections[id]?.slot = .closing
                    return [.closeConnection(id, quit: true)]
                }
                return settle(id, now: now)
            }
        }

        /// A connection handed over had died while idle (the server timed it out): it is
        /// closed and the waiter goes back to the head of the line.
        mutating func connectionWasStale(_ id: ConnectionID, waiter: WaiterID, now: Instant) -> [Action] {
            guard connections[id]?.slot == .inUse else { return [] }
            connections[id]?.slot = .closing
            if lifecycle == .running {
                waiters.insert(Waiter(id: waiter, since: now), at: 0)
                return [.closeConnection(id, quit: false)] + serve(now: now)
            }
            return [.closeConnection(id, quit: false), .failWaiter(waiter, .shutDown)]
        }

        mutating func connectionClosed(_ id: ConnectionID, now: Instant) -> [Action] {
            guard let connection = connections[id], connection.slot == .closing else { return [] }
            connections[id] = nil
            let actions: [Action] = connection.holdsLease ? [.returnLease(id, lane: connection.lane)] : []
            return actions + serve(now: now) + finishShutdownIfDone()
        }

        mutating func idleTimerFired(_ id: ConnectionID, now: Instant) -> [Action] {
            guard case .idle(let since) = connections[id]?.slot, since.advanced(by: settings.idleTimeout) <= now
            else { return [] }
            idle.removeAll { $0 == id }
            connections[id]?.slot = .closing
            return [.closeConnection(id, quit: true)]
        }

        mutating func setMaxConnections(_ value: Int, now: Instant) -> [Action] {
            settings.maxConnections = max(1, value)
            var actions: [Action] = []
            for lane in 0..<settings.lanes {
                // Spare idle connections close now, the longest idle first.
                while live(in: lane) > settings.maxConnections,
                      let index = idle.firstIndex(where: { connections[$0]?.lane == lane }) {
                    let id = idle.remove(at: index)
                    connections[id]?.slot = .closing
                    actions += [.cancelIdleTimer(id), .closeConnection(id, quit: true)]
                }
                // Slots waiting to ask for a lease again hold nothing: drop those beyond the limit.
                for id in connections.keys.sorted().reversed()
                where count(in: lane) > settings.maxConnections
                    && connections[id]?.lane == lane && connections[id]?.slot == .waitingForLease {
                    connections[id] = nil
                    actions.append(.cancelLeaseRetry(id))
                }
            }
            return actions + serve(now: now)
        }

        mutating func shutdown() -> [Action] {
            guard lifecycle == .running else { return [] }
            lifecycle = .shuttingDown
            var actions = waiters.map { Action.failWaiter($0.id, .shutDown) }
            waiters.removeAll()
            for id in idle {
                connections[id]?.slot = .closing
                actions += [.cancelIdleTimer(id), .closeConnection(id, quit: true)]
            }
            idle.removeAll()
            for id in connections.keys.sorted() where connections[id]?.slot == .waitingForLease {
                connections[id] = nil
                actions.append(.cancelLeaseRetry(id))
            }
            // Connections in use close as they come back, pending ones as their answer
            // arrives.
            return actions + finishShutdownIfDone()
        }

        // MARK: - Rules

        /// Connections of `lane` not being closed.
        private func live(in lane: Lane) -> Int {
            connections.values.count(where: { $0.lane == lane && $0.slot != .closing })
        }
        /// Connections of `lane` counting against its limit.
        func count(in lane: Lane) -> Int {
            connections.values.count(where: { $0.lane == lane })
        }
        private var pending: Int { connections.values.count(where: { $0.slot.isPending }) }

        /// The lane a new connection goes to: the one with the fewest connections, on a
        /// tie the first from the lane whose turn it is; nil when every lane is at its limit.
        private mutating func laneWithRoom() -> Lane? {
            var counts = Array(repeating: 0, count: settings.lanes)
            for connection in connections.values { counts[connection.lane] += 1 }
            let order = (0..<settings.lanes).map { (laneTurn + $0) % settings.lanes }
            guard let fewest = order.min(by: { counts[$0] < counts[$1] }),
                  counts[fewest] < settings.maxConnections else { return nil }
            laneTurn = (fewest + 1) % settings.lanes
            return fewest
        }

        /// Whether the pending slot `id` still has a waiter to serve, within its lane's limit.
        private func isNeeded(_ id: ConnectionID) -> Bool {
            guard lifecycle == .running, let lane = connections[id]?.lane,
                  count(in: lane) <= settings.maxConnections else { return false }
            // Pending slots serve waiters in order of creation; this one is needed when
            // there are more waiters than pending slots made before it.
            let before = connections.filter { $0.key < id && $0.value.slot.isPending }.count
            return waiters.count > before
        }

        /// An open connection with nobody using it: to the oldest waiter, or idle.
        private mutating func settle(_ id: ConnectionID, now: Instant) -> [Action] {
            if !waiters.isEmpty {
                connections[id]?.slot = .inUse
                return [.handOver(id, to: waiters.removeFirst().id)]
            }
            connections[id]?.slot = .idle(since: now)
            idle.append(id)
            return [.scheduleIdleTimer(id, at: now.advanced(by: settings.idleTimeout))]
        }

        /// Idle connections to waiters, then new connections for waiters nobody covers.
        private mutating func serve(now: Instant) -> [Action] {
            guard lifecycle == .running else { return [] }
            var actions: [Action] = []
            while !waiters.isEmpty, let id = idle.popLast() {
                connections[id]?.slot = .inUse
                actions += [.cancelIdleTimer(id), .handOver(id, to: waiters.removeFirst().id)]
            }
            var uncovered = waiters.count - pending
            while uncovered > 0, let lane = laneWithRoom() {
                let id = nextConnectionID
                nextConnectionID += 1
                if settings.usesLeases {
                    connections[id] = Connection(slot: .leasing, lane: lane)
                    actions.append(.leaseConnection(id, lane: lane))
                } else {
                    connections[id] = Connection(slot: .connecting, lane: lane)
                    actions.append(.openConnection(id, lane: lane))
                }
                lanePeaks[lane] = max(lanePeaks[lane], count(in: lane))
                uncovered -= 1
            }
            peak = max(peak, connections.count)
            return actions
        }

        private mutating func finishShutdownIfDone() -> [Action] {
            guard lifecycle == .shuttingDown, connections.isEmpty else { return [] }
            lifecycle = .shutDown
            return [.shutdownComplete]
        }
    }
}
