import Delivery
import Foundation

/// A `DeliveryStore` in memory with the real rules (the contract's), for the engine's own
/// tests with a fake clock: no file, no thread, every call one critical section. Seeded
/// with `addCampaign`, `suppress` and `setControl`; `handle()` gives a second view of the
/// same data, as a second process has.
///
/// Liveness of an owner is its heartbeat alone (there is no process to look at): an owner
/// silent for longer than `senderLease` is presumed dead.
public final class InMemoryDeliveryStore: DeliveryStore, @unchecked Sendable {
    public struct Settings: Sendable {
        /// Messages handed to servers per UTC day, nil for no quota.
        public var perDay: Int?
        /// The bounce rate above which a campaign pauses, nil for no guard.
        public var maxBounceRate: Double?
        public var minimumAttempts: Int
        /// How long an owner may stay silent before it is presumed dead.
        public var senderLease: TimeInterval
        /// What "today" is for the quota.
        public var clock: @Sendable () -> Date

        public init(perDay: Int? = nil, maxBounceRate: Double? = nil, minimumAttempts: Int = 500,
                    senderLease: TimeInterval = 60, clock: @escaping @Sendable () -> Date) {
            self.perDay = perDay
            self.maxBounceRate = maxBounceRate
            self.minimumAttempts = minimumAttempts
            self.senderLease = senderLease
            self.clock = clock
        }
    }

    /// One delivery as the store keeps it.
    public struct Delivery: Sendable, Equatable {
        public var id: Int64
        public var campaign: Int64
        public var email: String
        public var domain: String
        public var attributes: [String: String]
        public var state: DeliveryState = .pending
        public var attempts = 0
        public var firstAttemptAt: Date?
        public var lastAttemptAt: Date?
        public var nextAttemptAt = Date(timeIntervalSince1970: 0)
        public var claimedBy: String?
        public var lastOutcome: DeliveryOutcome?
    }

    private final class Data: @unchecked Sendable {
        let lock = NSLock()
        var nextID: Int64 = 1
        var campaigns: [Int64: CampaignControl] = [:]
        /// Each campaign's list, by name (nil: a list of its own).
        var campaignLists: [Int64: String] = [:]
        var deliveries: [Int64: Delivery] = [:]
        var suppressions: Set<String> = []
        /// Addresses (lower-cased) suppressed on one list only, by list name.
        var listSuppressions: [String: Set<String>] = [:]
        var heartbeats: [String: Date] = [:]
        var quotaUsed: [Int: Int] = [:]
        var budgets: [String: SendBudget] = [:]
        var leases: [String: [String: Int]] = [:]
        /// Every attempt recorded, in order.
        var attempts: [DeliveryOutcome] = []
    }

    public let settings: Settings
    private let data: Data

    public init(_ settings: Settings) {
        self.settings = settings
        data = Data()
    }

    private init(settings: Settings, data: Data) {
        self.settings = settings
        self.data = data
    }

    /// Another view of the same deliveries, limits and owners.
    public func handle() -> InMemoryDeliveryStore { InMemoryDeliveryStore(settings: settings, data: data) }

    private func locked<T>(_ body: (Data) throws -> T) rethrows -> T {
        data.lock.lock()
        defer { data.lock.unlock() }
        return try body(data)
    }

    // MARK: - Seeding

    /// A running campaign with one pending delivery per recipient; returns its id.
    @discardableResult
    public func addCampaign(recipients: [String], attributes: [String: String] = [:], state: CampaignControl = .running,
                            list: String? = nil) -> Int64 {
        locked { data in
            let campaign = data.nextID
            data.nextID += 1
            data.campaigns[campaign] = state
            data.campaignLists[campaign] = list
            for email in recipients {
                let id = data.nextID
                data.nextID += 1
                let domain = String(email.split(separator: "@").last ?? "").lowercased()
                data.deliveries[id] = Delivery(id: id, campaign: campaign, email: email, domain: domain, attributes: attributes)
            }
            return campaign
        }
    }

    public func suppress(_ email: String) {
        locked { _ = $0.suppressions.insert(email.lowercased()) }
    }

    /// Suppresses `email` on the list named `list` only.
    public func suppress(_ email: String, onList list: String) {
        locked { _ = $0.listSuppressions[list, default: []].insert(email.lowercased()) }
    }

    public func isSuppressed(_ email: String) -> Bool {
        locked { $0.suppressions.contains(email.lowercased()) }
    }

    /// A user's pause, resume or cancel (a cancel takes back everything not on a connection).
    public func setControl(_ control: CampaignControl, campaign: Int64) {
        locked { data in
            data.campaigns[campaign] = control
            guard control == .cancelled else { return }
            for (id, delivery) in data.deliveries where delivery.campaign == campaign
                && [.pending, .deferred, .claimed].contains(delivery.state) {
                data.deliveries[id]?.state = .cancelled
                data.deliveries[id]?.claimedBy = nil
            }
        }
    }

    /// Every delivery of `campaign`, by id.
    public func deliveries(campaign: Int64) -> [Delivery] {
        locked { data in data.deliveries.values.filter { $0.campaign == campaign }.sorted { $0.id < $1.id } }
    }

    /// Every attempt recorded so far, in order.
    public var attempts: [DeliveryOutcome] { locked { $0.attempts } }

    // MARK: - DeliveryStore

    public func claimDue(campaign: Int64, now: Date, limit: Int, owner: String,
                         excludingDomains: Set<String>) async throws -> [ClaimedDelivery] {
        try locked { data in
            guard let control = data.campaigns[campaign] else { throw DeliveryStoreError.campaignNotFound(campaign) }
            guard control == .running, limit > 0 else { return [] }
            var allowed = limit
            if let perDay = settings.perDay {
                allowed = max(0, min(limit, perDay - used(data) - inFlight(data)))
            }
            let due = data.deliveries.values.filter {
                $0.campaign == campaign && !excludingDomains.contains($0.domain) && $0.nextAttemptAt <= now
                    && ($0.state == .pending || $0.state == .deferred)
            }
            // Retries first, then new recipients; within each the oldest first.
            let ordered = due.sorted {
                ($0.state == .deferred ? 0 : 1, $0.nextAttemptAt, $0.id) < ($1.state == .deferred ? 0 : 1, $1.nextAttemptAt, $1.id)
            }
            var taken: [ClaimedDelivery] = []
            for delivery in ordered where taken.count < allowed {
                let address = delivery.email.lowercased()
                let onList = data.campaignLists[campaign].map { data.listSuppressions[$0]?.contains(address) ?? false } ?? false
                if data.suppressions.contains(address) || onList {
                    data.deliveries[delivery.id]?.state = .suppressed
                    continue
                }
                data.deliveries[delivery.id]?.state = .claimed
                data.deliveries[delivery.id]?.claimedBy = owner
                taken.append(ClaimedDelivery(id: delivery.id, campaignID: campaign, recipientID: delivery.id, email: delivery.email,
                                             domain: delivery.domain, attempts: delivery.attempts,
                                             firstAttemptAt: delivery.firstAttemptAt, attributes: delivery.attributes))
            }
            return taken.sorted { ($0.domain, $0.id) < ($1.domain, $1.id) }
        }
    }

    public func markSending(_ ids: [Int64], owner: String, now: Date) async throws -> Set<Int64> {
        locked { data in mark(ids, owner: owner, in: data) }
    }

    private func mark(_ ids: [Int64], owner: String, in data: Data) -> Set<Int64> {
        var marked: Set<Int64> = []
        for id in ids {
            guard let delivery = data.deliveries[id], delivery.state == .claimed, delivery.claimedBy == owner else { continue }
            data.deliveries[id]?.state = .sending
            marked.insert(id)
        }
        return marked
    }

    @discardableResult
    public func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String) async throws -> Int {
        try DeliveryOutcome.checkOutcomes(outcomes)
        return locked { data in record(outcomes, hardBounces: hardBounces, owner: owner, in: data) }
    }

    public func recordAndMarkSending(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                     owner: String, now: Date) async throws -> Set<Int64> {
        try DeliveryOutcome.checkOutcomes(outcomes)
        return locked { data in
            record(outcomes, hardBounces: hardBounces, owner: owner, in: data)
            return mark(ids, owner: owner, in: data)
        }
    }

    @discardableResult
    private func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String, in data: Data) -> Int {
        var recorded = 0
        var bouncedCampaigns: Set<Int64> = []
        for outcome in outcomes {
            guard var delivery = data.deliveries[outcome.deliveryID], delivery.claimedBy == owner,
                  [.claimed, .sending, .unknown].contains(delivery.state),
                  !(delivery.state == .claimed && outcome.state == .sent) else { continue }
            delivery.state = outcome.state
            delivery.attempts += 1
            delivery.firstAttemptAt = delivery.firstAttemptAt ?? outcome.attemptedAt
            delivery.lastAttemptAt = outcome.attemptedAt
            if let next = outcome.nextAttemptAt { delivery.nextAttemptAt = next }
            delivery.claimedBy = nil
            delivery.lastOutcome = outcome
            data.deliveries[delivery.id] = delivery
            data.attempts.append(outcome)
            recorded += 1
            if hardBounces.contains(delivery.id) { data.suppressions.insert(delivery.email.lowercased()) }
            if outcome.mxHost != nil || outcome.state == .unknown, settings.perDay != nil {
                data.quotaUsed[Self.day(settings.clock()), default: 0] += 1
            }
            if outcome.state == .bounced { bouncedCampaigns.insert(delivery.campaign) }
        }
        if let maxBounceRate = settings.maxBounceRate {
            for campaign in bouncedCampaigns where data.campaigns[campaign] == .running {
                let states = data.deliveries.values.filter { $0.campaign == campaign }.map(\.state)
                let attempted = states.filter { [.sent, .bounced, .failed, .unknown, .deferred].contains($0) }.count
                let bounced = states.filter { $0 == .bounced }.count
                if attempted >= settings.minimumAttempts, Double(bounced) > maxBounceRate * Double(attempted) {
                    data.campaigns[campaign] = .paused
                }
            }
        }
        return recorded
    }

    @discardableResult
    public func release(_ ids: [Int64], owner: String) async throws -> Int {
        locked { data in
            var released = 0
            for id in ids {
                guard let delivery = data.deliveries[id], delivery.state == .claimed, delivery.claimedBy == owner else { continue }
                data.deliveries[id]?.state = data.campaigns[delivery.campaign] == .cancelled ? .cancelled : .pending
                data.deliveries[id]?.claimedBy = nil
                released += 1
            }
            return released
        }
    }

    public func heartbeat(owner: String, now: Date) async throws {
        locked { $0.heartbeats[owner] = now }
    }

    public func signOff(owner: String) async throws {
        locked { data in
            for (id, delivery) in data.deliveries where delivery.claimedBy == owner && delivery.state == .claimed {
                data.deliveries[id]?.state = data.campaigns[delivery.campaign] == .cancelled ? .cancelled : .pending
                data.deliveries[id]?.claimedBy = nil
            }
            data.heartbeats[owner] = nil
            for key in data.leases.keys { data.leases[key]?[owner] = nil }
        }
    }

    private func isAlive(_ owner: String, now: Date, in data: Data) -> Bool {
        guard let beat = data.heartbeats[owner] else { return false }
        return beat >= now.addingTimeInterval(-settings.senderLease)
    }

    public func recoverAbandoned(campaign: Int64, owner: String, now: Date) async throws -> DeliveryRecovery {
        locked { data in
            var recovery = DeliveryRecovery()
            var gone: Set<String> = []
            for (id, delivery) in data.deliveries where delivery.campaign == campaign && [.claimed, .sending].contains(delivery.state) {
                if let holder = delivery.claimedBy, holder == owner || isAlive(holder, now: now, in: data) { continue }
                if let holder = delivery.claimedBy { gone.insert(holder) }
                if delivery.state == .claimed {
                    data.deliveries[id]?.state = .pending
                    data.deliveries[id]?.claimedBy = nil
                    recovery.released += 1
                } else {
                    data.deliveries[id]?.state = .unknown
                    data.deliveries[id]?.attempts += 1
                    let at = delivery.lastAttemptAt ?? now
                    data.deliveries[id]?.firstAttemptAt = delivery.firstAttemptAt ?? at
                    data.attempts.append(DeliveryOutcome(deliveryID: id, state: .unknown,
                                                         response: "sender stopped before the reply was recorded", attemptedAt: at))
                    recovery.unknown += 1
                }
            }
            for holder in gone {
                data.heartbeats[holder] = nil
                for key in data.leases.keys { data.leases[key]?[holder] = nil }
            }
            return recovery
        }
    }

    @discardableResult
    public func resendUnknown(campaign: Int64) async throws -> Int {
        locked { data in
            var count = 0
            for (id, delivery) in data.deliveries where delivery.campaign == campaign && delivery.state == .unknown {
                data.deliveries[id]?.state = .pending
                data.deliveries[id]?.claimedBy = nil
                data.deliveries[id]?.nextAttemptAt = Date(timeIntervalSince1970: 0)
                count += 1
            }
            if count > 0, data.campaigns[campaign] == .finished { data.campaigns[campaign] = .running }
            return count
        }
    }

    public func campaignControl(campaign: Int64) async throws -> CampaignControl {
        try locked { data in
            guard let control = data.campaigns[campaign] else { throw DeliveryStoreError.campaignNotFound(campaign) }
            return control
        }
    }

    public func nextDueAt(campaign: Int64) async throws -> Date? {
        locked { data in
            data.deliveries.values.filter { $0.campaign == campaign && $0.state == .deferred }.map(\.nextAttemptAt).min()
        }
    }

    public func stateCounts(campaign: Int64) async throws -> DeliveryCounts {
        locked { data in
            var counts = DeliveryCounts()
            for delivery in data.deliveries.values where delivery.campaign == campaign {
                counts.byState[delivery.state, default: 0] += 1
            }
            return counts
        }
    }

    public func finishIfComplete(campaign: Int64, now: Date) async throws -> Bool {
        locked { data in
            let open = data.deliveries.values.contains {
                $0.campaign == campaign && [.pending, .claimed, .sending, .deferred].contains($0.state)
            }
            if open { return false }
            if data.campaigns[campaign] == .running { data.campaigns[campaign] = .finished }
            return true
        }
    }

    public func sendingHold(now: Date) async throws -> SendingHold? {
        guard let perDay = settings.perDay else { return nil }
        return locked { data in
            guard used(data) + inFlight(data) >= perDay else { return nil }
            let today = settings.clock().timeIntervalSince1970
            let tomorrow = Date(timeIntervalSince1970: ((today / 86_400).rounded(.down) + 1) * 86_400)
            return SendingHold(reason: "daily quota of \(perDay) reached; resumes tomorrow (UTC)", until: tomorrow)
        }
    }

    private static func day(_ date: Date) -> Int { Int((date.timeIntervalSince1970 / 86_400).rounded(.down)) }

    private func used(_ data: Data) -> Int { data.quotaUsed[Self.day(settings.clock())] ?? 0 }

    private func inFlight(_ data: Data) -> Int {
        data.deliveries.values.filter { $0.claimedBy != nil && ($0.state == .claimed || $0.state == .sending) }.count
    }

    // MARK: - SharedLimits

    public func takeSends(_ key: String, count: Int, rate: Rate, now: Date) async throws -> SendGrant {
        guard count > 0 else { return SendGrant(granted: 0) }
        return locked { data in
            let taken = SendBudget.take(count, rate: rate, now: now.timeIntervalSince1970, from: data.budgets[key])
            data.budgets[key] = taken.budget
            return SendGrant(granted: taken.granted, retryAt: taken.retryAt.map { Date(timeIntervalSince1970: $0) })
        }
    }

    public func leaseConnection(_ key: String, limit: Int, owner: String, now: Date) async throws -> Bool {
        locked { data in
            var held = data.leases[key] ?? [:]
            for holder in held.keys where holder != owner && !isAlive(holder, now: now, in: data) { held[holder] = nil }
            guard held.values.reduce(0, +) < limit else {
                data.leases[key] = held
                return false
            }
            held[owner, default: 0] += 1
            data.leases[key] = held
            return true
        }
    }

    public func returnConnection(_ key: String, owner: String) async throws {
        locked { data in
            guard let count = data.leases[key]?[owner] else { return }
            data.leases[key]?[owner] = count > 1 ? count - 1 : nil
        }
    }
}
