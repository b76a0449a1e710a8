import Foundation

/// Limits that hold for everything sending from one store at once: two `salvo send` on one
/// SQLite file, `send` beside a cron `salvo run`, several hosts on one PostgreSQL. A
/// process's own `Throttles` and pool limits only pace that process; these make the
/// configured rates and connection counts true for the whole fleet.
///
/// Keys name what a limit is for, the same in every process: `global`, `site:<SiteKey>`,
/// `domain:<domain>`. A process asks for small amounts just before it uses them (the sends
/// of the next few messages, one connection at a time), so the sum over all processes stays
/// within the limit in every second.
public protocol SharedLimits: Sendable {
    /// Takes up to `count` sends from the store-wide token bucket `key`. The bucket refills
    /// at `rate` and holds at most one second's share of it (at least 1), as `TokenBucket`
    /// does for one process. Returns how many were granted (0 … `count`) and, when fewer
    /// than `count`, the earliest time the next one may be.
    func takeSends(_ key: String, count: Int, rate: Rate, now: Date) async throws -> SendGrant

    /// Leases one connection of `key`, at most `limit` open across every sender of the
    /// store; false when all are taken. A lease lives as long as its owner's heartbeat:
    /// an owner presumed dead (as `recoverAbandoned` presumes) holds none, and `signOff`
    /// returns all of an owner's leases.
    func leaseConnection(_ key: String, limit: Int, owner: String, now: Date) async throws -> Bool

    /// Returns one lease of `key` taken by `leaseConnection`.
    func returnConnection(_ key: String, owner: String) async throws
}

/// What `SharedLimits.takeSends` granted.
public struct SendGrant: Sendable, Equatable {
    /// Sends that may go now.
    public var granted: Int
    /// When granted < asked: the earliest time one more may be taken.
    public var retryAt: Date?

    public init(granted: Int, retryAt: Date? = nil) {
        self.granted = granted
        self.retryAt = retryAt
    }
}
