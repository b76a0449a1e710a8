import Foundation

extension SitePool {
    /// The store-wide connection leases a pool takes before it opens a connection and
    /// returns when the connection closes, so that a site's `connections` limit (and the
    /// global one) holds for every process sending from one store, not for each one.
    ///
    /// With source addresses (`source_addresses:`), each address is a lane of the pool with
    /// a site lease of its own, `site:<site>@<address>`: a provider counts connections per
    /// sending IP, and each host of a fleet sends from addresses of its own.
    ///
    /// `.none` takes no leases: the pool's own limit is the only one.
    public struct Leases: Sendable {
        /// One limit to lease against: a `SharedLimits` key and its limit.
        public struct Key: Sendable, Hashable {
            public var name: String
            public var limit: Int

            public init(_ name: String, limit: Int) {
                self.name = name
                self.limit = max(1, limit)
            }
        }

        let store: (any SharedLimits)?
        let owner: String
        /// Each lane's keys, taken in this order and given back all together.
        let laneKeys: [[Key]]
        /// Every key of every lane, once each, for a message that names them.
        public var keys: [Key] {
            var seen: Set<Key> = []
            return laneKeys.joined().filter { seen.insert($0).inserted }
        }
        /// The store's time (leases live as long as their owner's heartbeat).
        let now: @Sendable () -> Date
        /// How long a refused lease waits before it is asked for again.
        public let retryInterval: Duration
        /// How long a waiter waits for a lease before it is failed.
        public let longestWait: Duration

        /// No shared limits: the pool's own limit only.
        public static let none = Leases(store: nil, owner: "", laneKeys: [], now: { .distantPast },
                                        retryInterval: .seconds(1), longestWait: .seconds(1))

        /// Leases of `site:<site>` (at most `siteConnections` across the store) and, when
        /// given, `global` (at most `globalConnections`) for every connection; with
        /// `sourceAddresses`, one lane per address, leasing `site:<site>@<address>` (at most
        /// `siteConnections` each) instead of `site:<site>`.
        /// - Parameters:
        ///   - owner: the sender's owner name, the one its heartbeat keeps alive.
        ///   - now: the store's idea of the time, for the leases' heartbeats.
        ///   - retryInterval: how long a refused lease waits before it is asked again.
        ///   - longestWait: how long a waiter waits for a lease before it fails.
        public static func shared(_ store: any SharedLimits, owner: String, site: SiteKey, siteConnections: Int,
                                  sourceAddresses: [String] = [], globalConnections: Int?,
                                  now: @escaping @Sendable () -> Date, retryInterval: Duration = .milliseconds(500),
                                  longestWait: Duration = .seconds(300)) -> Leases {
            let siteKeys = sourceAddresses.isEmpty
                ? [Key(siteKey(site), limit: siteConnections)]
                : sourceAddresses.map { Key(siteKey(site, from: $0), limit: siteConnections) }
            let global = globalConnections.map { Key(globalKey, limit: $0) }
            return Leases(store: store, owner: owner, laneKeys: siteKeys.map { [$0] + (global.map { [$0] } ?? []) },
                          now: now, retryInterval: retryInterval, longestWait: longestWait)
        }

        public static let globalKey = "global"

        /// `site:<site>`, the key every process uses for one site.
        public static func siteKey(_ site: SiteKey) -> String {
            "site:\(site.description)"
        }

        /// `site:<site>@<address>`, the key of the connections to one site from one source address.
        public static func siteKey(_ site: SiteKey, from sourceAddress: String) -> String {
            "site:\(site.description)@\(sourceAddress)"
        }

        init(store: (any SharedLimits)?, owner: String, laneKeys: [[Key]], now: @escaping @Sendable () -> Date,
             retryInterval: Duration, longestWait: Duration) {
            self.store = store
            self.owner = owner
            self.laneKeys = laneKeys
            self.now = now
            self.retryInterval = retryInterval
            self.longestWait = longestWait
        }

        var isEnabled: Bool { store != nil && !laneKeys.isEmpty }

        /// Takes one lease of every key of `lane`, or none: a key refused (or a store that
        /// cannot answer, which must not be read as a yes) gives back those already taken.
        func take(lane: Int) async -> Bool {
            guard let store else { return true }
            var taken: [Key] = []
            for key in keys(of: lane) {
                let granted = (try? await store.leaseConnection(key.name, limit: key.limit, owner: owner, now: now())) ?? false
                guard granted else {
                    await give(back: taken)
                    return false
                }
                taken.append(key)
            }
            return true
        }

        /// Returns one lease of every key of `lane`. A return the store cannot take now is
        /// left to the owner's heartbeat: the lease ends when the owner signs off or is
        /// presumed dead.
        func giveBack(lane: Int) async {
            await give(back: keys(of: lane))
        }

        /// The keys of `lane` (the pool was made with as many lanes as these leases have:
        /// `fit(lanes:)`).
        private func keys(of lane: Int) -> [Key] {
            laneKeys[lane]
        }

        /// Whether these leases fit a pool of `lanes` lanes.
        func fit(lanes: Int) -> Bool {
            laneKeys.isEmpty || laneKeys.count == lanes
        }

        private func give(back keys: [Key]) async {
            guard let store else { return }
            for key in keys.reversed() {
                try? await store.returnConnection(key.name, owner: owner)
            }
        }
    }
}
