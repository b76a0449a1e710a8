@testable import Campaigns
import Delivery
import Foundation
import NIOConcurrencyHelpers

/// The SQLite store with faults a real deployment meets, put in front of it rather than
/// imitated: commits refused as a database busy in another process refuses them, and
/// shared send buckets that really limit (a token bucket on a clock the test moves), as
/// when other processes sending from the same database use most of a rate.
final class FaultyStore: SynchronousCommits, @unchecked Sendable {
    let base: SalvoStore
    private let state = NIOLockedValueBox(State())

    struct State {
        /// Commits (`recordAndMarkSendingSynchronously`) still to refuse.
        var busyCommits = 0
        /// Refuse every commit that records an outcome (a store that never recovers).
        var refuseOutcomes = false
        var commitsRefused = 0
        /// The shared bucket: tokens now, at most `capacity`, `refill` more per hour of
        /// the test's clock.
        var tokens: Int? = nil
        var capacity = 0
        var refill = 0
        var granted = 0
        var keysAsked: Set<String> = []
    }

    init(_ base: SalvoStore) { self.base = base }

    func busy(commits: Int) { state.withLockedValue { $0.busyCommits = commits } }
    func refuseOutcomes() { state.withLockedValue { $0.refuseOutcomes = true } }
    func limitSends(to capacity: Int, refillPerHour: Int) {
        state.withLockedValue { $0.tokens = capacity; $0.capacity = capacity; $0.refill = refillPerHour }
    }
    /// Moves the bucket's clock on by `hours`.
    func advance(hours: Int) {
        state.withLockedValue { $0.tokens = min($0.capacity, ($0.tokens ?? 0) + hours * $0.refill) }
    }
    var snapshot: State { state.withLockedValue { $0 } }

    struct Busy: Error, CustomStringConvertible { var description: String { "database is locked" } }

    func recordAndMarkSending(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                              owner: String, now: Date) async throws -> Set<Int64> {
        try recordAndMarkSendingSynchronously(outcomes, hardBounces: hardBounces, marking: ids, owner: owner, now: now)
    }

    func recordAndMarkSendingSynchronously(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                           owner: String, now: Date) throws -> Set<Int64> {
        let refuse = state.withLockedValue { state in
            if state.busyCommits > 0 || (state.refuseOutcomes && !outcomes.isEmpty) {
                state.busyCommits = max(0, state.busyCommits - 1)
                state.commitsRefused += 1
                return true
            }
            return false
        }
        if refuse { throw Busy() }
        return try base.recordAndMarkSendingSynchronously(outcomes, hardBounces: hardBounces, marking: ids, owner: owner, now: now)
    }

    func takeSends(_ key: String, count: Int, rate: Rate, now: Date) async throws -> SendGrant {
        let granted = state.withLockedValue { state -> Int? in
            state.keysAsked.insert(key)
            guard key == "global", let tokens = state.tokens else { return nil }
            let granted = min(tokens, count)
            state.tokens = tokens - granted
            state.granted += granted
            return granted
        }
        guard let granted else { return try await base.takeSends(key, count: count, rate: rate, now: now) }
        // The next token comes with the next refill, an hour away on the test's clock.
        return SendGrant(granted: granted, retryAt: granted < count ? now.addingTimeInterval(3600) : nil)
    }

    func claimDue(campaign: Int64, now: Date, limit: Int, owner: String, excludingDomains: Set<String>) async throws -> [ClaimedDelivery] {
        try await base.claimDue(campaign: campaign, now: now, limit: limit, owner: owner, excludingDomains: excludingDomains)
    }
    func markSending(_ ids: [Int64], owner: String, now: Date) async throws -> Set<Int64> {
        try await base.markSending(ids, owner: owner, now: now)
    }
    func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String) async throws -> Int {
        try await base.record(outcomes, hardBounces: hardBounces, owner: owner)
    }
    func release(_ ids: [Int64], owner: String) async throws -> Int { try await base.release(ids, owner: owner) }
    func heartbeat(owner: String, now: Date) async throws { try await base.heartbeat(owner: owner, now: now) }
    func signOff(owner: String) async throws { try await base.signOff(owner: owner) }
    func recoverAbandoned(campaign: Int64, owner: String, now: Date) async throws -> DeliveryRecovery {
        try await base.recoverAbandoned(campaign: campaign, owner: owner, now: now)
    }
    func resendUnknown(campaign: Int64) async throws -> Int { try await base.resendUnknown(campaign: campaign) }
    func campaignControl(campaign: Int64) async throws -> CampaignControl { try await base.campaignControl(campaign: campaign) }
    func nextDueAt(campaign: Int64) async throws -> Date? { try await base.nextDueAt(campaign: campaign) }
    func stateCounts(campaign: Int64) async throws -> DeliveryCounts { try await base.stateCounts(campaign: campaign) }
    func finishIfComplete(campaign: Int64, now: Date) async throws -> Bool { try await base.finishIfComplete(campaign: campaign, now: now) }
    func sendingHold(now: Date) async throws -> SendingHold? { try await base.sendingHold(now: now) }
    func leaseConnection(_ key: String, limit: Int, owner: String, now: Date) async throws -> Bool {
        try await base.leaseConnection(key, limit: limit, owner: owner, now: now)
    }
    func returnConnection(_ key: String, owner: String) async throws { try await base.returnConnection(key, owner: owner) }
}
