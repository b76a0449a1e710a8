import Foundation

extension SitePool {
    /// The store-wide connection leases a pool takes before it opens a connection and
    /// returns when the connection closes, so that a site's `connections` limit (and the
    /// global one) holds for every process sending from one store, not for each one.
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
        /// Taken in this order and given back all together.
        public let keys: [Key]
        /// The store's time (leases live as long as their owner's heartbeat).
        let now: @Sendable () -> Date
        /// How long a refused lease waits before it is asked for again.
        public let retryInterval: Duration
        /// How long a waiter waits for a lease before it is failed.
        public let longestWait: Duration

        /// No shared limits: the pool's own limit only.
        public static let none = Leases(store: nil, owner: "", keys: [], now: { .distantPast },
                                        retryInterval: .seconds(1), longestWait: .seconds(1))

        /// Leases of `site:<site>` (at most `siteConnections` across the store) and, when
        /// given, `global` (at most `globalConnections`) for every connection.
        /// - Parameters:
        ///   - owner: the sender's owner name, the one its heartbeat keeps alive.
        ///   - now: the store's idea of the time, for the leases' heartbeats.
        ///   - retryInterval: how long a refused lease waits before it is asked again.
        ///   - longestWait: how long a waiter waits for a lease before it fails.
        public static func shared(_ store: any SharedLimits, owner: String, site: SiteKey, siteConnections: Int,
                                  globalConnections: Int?, now: @escaping @Sendable () -> Date,
                                  retryInterval: Duration = .milliseconds(500),
                                  longestWait: Duration = .seconds(300)) -> Leases {
            var keys = [Key(siteKey(site), limit: siteConnections)]
            if let globalConnections { keys.append(Key(globalKey, limit: globalConnections)) }
            return Leases(store: store, owner: owner, keys: keys, now: now, retryInterval: retryInterval,
                          longestWait: longestWait)
        }

        public static let globalKey = "global"

        /// `site:<site>`, the key every process uses for one site.
        public static func siteKey(_ site: SiteKey) -> String {
            "site:\(site.description)"
        }

        init(store: (any SharedLimits)?, owner: String, keys: [Key], now: @escaping @Sendable () -> Date,
             retryInterval: Duration, longestWait: Duration) {
            self.store = store
            self.owner = owner
            self.keys = keys
            self.now = now
            self.retryInterval = retryInterval
            self.longestWait = longestWait
        }

        var isEnabled: Bool { store != nil && !keys.isEmpty }

        /// Takes one lease of every key, or none: a key refused (or a store that cannot
        /// answer, which must not be read as a yes) gives back those already taken.
        func take() async -> Bool {
            guard let store else { return true }
            var taken: [Key] = []
            for key in keys {
                let granted = (try? await store.leaseConnection(key.name, limit: key.limit, owner: owner, now: now())) ?? false
                guard granted else {
                    await give(back: taken)
                    return false
                }
                taken.append(key)
            }
            return true
        }

        /// Returns one lease of every key. A return the store cannot take now is left to
        /// the owner's heartbeat: the lease ends when the owner signs off or is presumed dead.
        func giveBack() async {
            await give(back: keys)
        }

        private func give(back keys: [Key]) async {
            guard let store else { return }
            for key in keys.reversed() {
                try? await store.returnConnection(key.name, owner: owner)
            }
        }
    }
}
