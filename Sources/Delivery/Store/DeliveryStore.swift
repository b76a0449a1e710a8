import Foundation

/// The engine's only door to the store, which is the one source of truth for every
/// recipient: nothing the engine knows about a delivery outlives a commit interval unless
/// the store has it.
///
/// The life of a delivery as the engine sees it:
///
///     claimDue ──▶ claimed ──markSending──▶ sending ──record──▶ sent | deferred | bounced | failed | unknown
///                     │                                           ▲
///                     ├──record (failed before any DATA: DNS, connect)┘
///                     └──release──▶ pending   (handed back unsent: Ctrl-C, pause, shutdown)
///
/// Every claim carries an owner token (one per running engine). A row claimed by an owner
/// that has stopped beating its heart is recovered: `claimed` (never on a connection) goes
/// back to `pending`, `sending` (its DATA may have been accepted) becomes `unknown`, which
/// is sent again only by `resendUnknown`.
///
/// The shape is meant for a PostgreSQL store too, for several hosts sending one campaign:
/// `claimDue` maps to `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)`,
/// every other call is one transaction over a batch of ids.
///
/// ## The rules every store keeps
///
/// Whoever sends (one engine, two processes on one file, several hosts), the store alone
/// makes these true, inside its own transactions; `DeliveryStoreContract`
/// (Tests/StoreContract) checks each of them through this protocol, and a store is done
/// when it passes that suite.
///
/// - **One holder.** A delivery is held by at most one owner; only its holder may mark,
///   record or release it, and a call naming another owner changes nothing.
/// - **Claim what is due, in order.** Only a running campaign's `pending` deliveries and
///   `deferred` ones whose time has come; retries first, then new ones, the oldest first;
///   at most `limit`; none of `excludingDomains`; returned by domain, then id.
/// - **Suppression at claim.** An address suppressed globally, or on the campaign's own
///   list, when it is claimed becomes `suppressed` and is not returned, however late it
///   was added; one suppressed only on another list is claimed as any other.
/// - **Sent only when marked.** `sent` is recorded only for a delivery marked `sending`
///   before its DATA; an outcome is recorded once per attempt (attempts + 1, the first
///   attempt's time kept); `deferred` needs its next attempt time; any state that is not
///   an outcome is refused with `DeliveryStoreError`.
/// - **Hard bounces suppress.** A recorded delivery in `hardBounces` puts its address on
///   the suppression list for every later campaign.
/// - **The daily quota** (when the store has one): messages handed to servers in a UTC
///   day — outcomes with a server's reply, and `unknown` ones — plus deliveries held by
///   any claim never pass it; a claim takes at most what is left, and `sendingHold` says
///   why nothing more may be claimed and until when.
/// - **The reputation guard** (when the store has one): a campaign whose bounced share of
///   its attempted deliveries passes the threshold is paused, in the transaction that
///   recorded the bounce, so every sender of it stops.
/// - **Cancel and pause.** A cancelled campaign's deliveries not on a connection become
///   `cancelled` (a claim is then never marked); a paused or cancelled campaign gives no
///   claims.
/// - **Hand back, recover, resend.** `release` and `signOff` give `claimed` back to
///   `pending`, never `sending`; `recoverAbandoned` takes back what owners presumed dead
///   held (`claimed` → `pending`, `sending` → `unknown`, an attempt); `unknown` goes again
///   only through `resendUnknown`.
/// - **Finish when complete.** A campaign is finished once every delivery is final, and
///   only then.
/// - **Shared limits** (`SharedLimits`): the send budget and connection leases hold for
///   every handle on the store together; an owner presumed dead holds no lease.
public protocol DeliveryStore: SharedLimits {
    /// Atomically takes up to `limit` due deliveries of `campaign` (`pending`, or
    /// `deferred` whose `next_attempt_at` ≤ `now`), marks them `claimed` by `owner`, and
    /// returns them ordered by domain, then id, so one destination's recipients come
    /// together (RCPT batching, pooled connections). Retries due are taken before new
    /// recipients; within each, the oldest first. Deliveries whose domain is in
    /// `excludingDomains` (sites the engine cannot serve soon) are left for later.
    /// An address suppressed (globally or on the campaign's list) since the campaign
    /// started becomes `suppressed` here.
    /// Nothing is claimed unless the campaign is running (a pause or cancel that lands
    /// between two polls of `campaignControl` takes effect at the next claim).
    func claimDue(campaign: Int64, now: Date, limit: Int, owner: String,
                  excludingDomains: Set<String>) async throws -> [ClaimedDelivery]

    /// Moves `claimed` deliveries of `owner` to `sending`, in one transaction, and returns
    /// the ids that moved. Call it, and let it return, BEFORE the DATA of their
    /// transaction goes out: it is what lets a crash turn them into `unknown` rather than
    /// sending them twice. Send only the returned ids: one missing was taken back (the
    /// campaign was cancelled, or this owner was presumed dead and its claim recovered).
    func markSending(_ ids: [Int64], owner: String, now: Date) async throws -> Set<Int64>

    /// Records a batch of outcomes in one transaction: the delivery's state, attempts + 1,
    /// the last reply, MX host, Message-ID, first and last attempt times, `next_attempt_at`
    /// for `deferred`; and one `attempts` row each. Deliveries in `hardBounces` (ids) have
    /// their address added to the suppression list (reason `hard-bounce`).
    ///
    /// Only deliveries this owner holds (`claimed`, `sending`, or `unknown` after a wrong
    /// presumption of death) are written, and `sent` only for one marked `sending` (a
    /// message that went out unmarked would have been invisible to crash recovery);
    /// returns how many were written.
    @discardableResult
    func record(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, owner: String) async throws -> Int

    /// `record(outcomes…)` and then `markSending(ids…)` in one commit: what a connection
    /// does between two messages (the last one's outcome is on disk before the next one is
    /// marked, so a crash leaves at most one message of it in doubt). Returns the ids
    /// marked, as `markSending` does. What it writes shows in the other calls' results at
    /// the latest when they are made; readers in other processes may see it a moment later.
    ///
    /// The engine calls it one commit after another from one task; a store that commits
    /// faster on a thread of its own says so with `SynchronousCommits`.
    func recordAndMarkSending(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                              owner: String, now: Date) async throws -> Set<Int64>

    /// Hands `claimed` deliveries back unsent (`pending`; `cancelled` if the campaign was
    /// cancelled meanwhile). Deliveries already `sending` are not touched.
    @discardableResult
    func release(_ ids: [Int64], owner: String) async throws -> Int

    /// Says `owner` is alive. Call it when starting and then every few seconds (the
    /// campaign control poll is a good moment); an owner silent for longer than the
    /// store's lease is presumed dead and its claims are recovered by the next sender.
    func heartbeat(owner: String, now: Date) async throws

    /// A clean exit: releases what `owner` still holds `claimed` and forgets the owner.
    func signOff(owner: String) async throws

    /// Recovers the deliveries of `campaign` held by owners that are gone (another owner
    /// than `owner` whose process has ended or whose heartbeat is older than the lease):
    /// `claimed` → `pending`, `sending` → `unknown` (with an `attempts` row saying so).
    /// Call it when an engine starts, before claiming.
    func recoverAbandoned(campaign: Int64, owner: String, now: Date) async throws -> DeliveryRecovery

    /// `unknown` → `pending` (for `salvo send --resend-unknown`); returns how many.
    @discardableResult
    func resendUnknown(campaign: Int64) async throws -> Int

    /// What the engine should be doing for `campaign` now (pause, resume and cancel come
    /// in from another process through the store; poll at least every 2 seconds).
    func campaignControl(campaign: Int64) async throws -> CampaignControl

    /// The earliest `next_attempt_at` of a deferred delivery of `campaign`, or nil when
    /// none is deferred (`--wait` sleeps until then).
    func nextDueAt(campaign: Int64) async throws -> Date?

    /// How many deliveries of `campaign` are in each state (absent states are 0).
    func stateCounts(campaign: Int64) async throws -> DeliveryCounts

    /// Marks `campaign` finished when every delivery is final (none `pending`, `claimed`,
    /// `sending` or `deferred`); returns whether it is. A finished campaign's failures are
    /// told to its sender once, by whatever the store queues for that.
    func finishIfComplete(campaign: Int64, now: Date) async throws -> Bool

    /// Why nothing more may be claimed for now whatever is due (a daily sending quota
    /// spent), or nil. The engine asks when a claim comes back empty, and ends its pass
    /// with the reason rather than waiting for retries it may not send.
    func sendingHold(now: Date) async throws -> SendingHold?
}

/// A store whose commits are fastest made synchronously, from a thread that does nothing
/// else (SQLite: a commit is a few microseconds of work on a file, and tasks, an actor and
/// the store's own queue would cost several thread hops more on the critical path of every
/// message). The engine's `StoreCommitter` then runs its commits on a thread of its own
/// through `recordAndMarkSendingSynchronously`, never waiting on, or blocking, the
/// concurrency pool; for any other store it runs the same loop as a task.
public protocol SynchronousCommits: DeliveryStore {
    /// `recordAndMarkSending`, on the caller's thread: same rules, same result.
    func recordAndMarkSendingSynchronously(_ outcomes: [DeliveryOutcome], hardBounces: Set<Int64>, marking ids: [Int64],
                                           owner: String, now: Date) throws -> Set<Int64>
}

/// A delivery the engine now holds, with what it needs to render and route the message.
public struct ClaimedDelivery: Sendable, Equatable {
    public var id: Int64
    public var campaignID: Int64
    public var recipientID: Int64
    public var email: String
    /// Lower-cased, as stored.
    public var domain: String
    /// Attempts made before this one.
    public var attempts: Int
    /// When the first attempt was made (nil for a first attempt): the retry policy's
    /// maximum age counts from here.
    public var firstAttemptAt: Date?
    /// The recipient's attributes by the list's column names (columns it has no value for
    /// are absent).
    public var attributes: [String: String]

    public init(id: Int64, campaignID: Int64, recipientID: Int64, email: String, domain: String,
                attempts: Int, firstAttemptAt: Date?, attributes: [String: String]) {
        self.id = id
        self.campaignID = campaignID
        self.recipientID = recipientID
        self.email = email
        self.domain = domain
        self.attempts = attempts
        self.firstAttemptAt = firstAttemptAt
        self.attributes = attributes
    }
}

/// What `recoverAbandoned` did.
public struct DeliveryRecovery: Sendable, Equatable {
    /// The reply every store records for a `sending` delivery it makes `unknown`.
    public static let unknownResponse = "sender stopped after handing the message to a connection, before its reply was recorded"

    /// `claimed` deliveries handed back to `pending`.
    public var released: Int
    /// `sending` deliveries now `unknown`: their message may have been delivered.
    public var unknown: Int

    public init(released: Int = 0, unknown: Int = 0) {
        self.released = released
        self.unknown = unknown
    }
}

/// What a campaign's state asks of a running engine.
public enum CampaignControl: String, Sendable, Equatable {
    /// Claim and send.
    case running
    /// Stop claiming, finish the transactions in flight, release the rest; resume later.
    case paused
    /// Stop claiming, finish the transactions in flight; what is not sent is `cancelled`.
    case cancelled
    /// Every delivery is final.
    case finished
    /// A draft or a scheduled campaign: not to be sent yet.
    case notStarted
}

extension CampaignControl {
    /// What a campaign in `state` (a store's `campaigns.state`: draft, scheduled, running,
    /// paused, cancelled, finished, archived) asks of a running engine.
    public init(campaignState state: String) {
        switch state {
        case "running": self = .running
        case "paused": self = .paused
        case "cancelled": self = .cancelled
        case "finished": self = .finished
        default: self = .notStarted
        }
    }
}

/// Deliveries per state, for progress lines, `salvo status` and the end-of-run summary.
public struct DeliveryCounts: Sendable, Equatable {
    public var byState: [DeliveryState: Int]

    public init(byState: [DeliveryState: Int] = [:]) {
        self.byState = byState
    }

    public subscript(state: DeliveryState) -> Int { byState[state] ?? 0 }
    public var total: Int { byState.values.reduce(0, +) }
    /// Deliveries that will not change again without a user's say-so.
    public var final: Int { byState.filter { $0.key.isFinal }.map(\.value).reduce(0, +) }
    public var isComplete: Bool { final == total }
}

/// A store call the engine made wrongly (a bug in the caller, not a state of the data).
public struct DeliveryStoreError: Error, CustomStringConvertible, Equatable {
    private enum Kind: Equatable {
        case outcomeState(Int64, DeliveryState)
        case deferredWithoutTime(Int64)
        case campaignNotFound(Int64)
    }
    private let kind: Kind

    /// An outcome whose state is not one an attempt can end in.
    public static func outcomeState(_ id: Int64, _ state: DeliveryState) -> Self { Self(kind: .outcomeState(id, state)) }
    /// A `deferred` outcome without `nextAttemptAt`.
    public static func deferredWithoutTime(_ id: Int64) -> Self { Self(kind: .deferredWithoutTime(id)) }
    public static func campaignNotFound(_ id: Int64) -> Self { Self(kind: .campaignNotFound(id)) }

    public var description: String {
        switch kind {
        case .outcomeState(let id, let state):
            "delivery \(id): an attempt cannot end as '\(state.rawValue)' (sent, deferred, bounced, failed or unknown)"
        case .deferredWithoutTime(let id):
            "delivery \(id): a deferred outcome needs the time of its next attempt"
        case .campaignNotFound(let id):
            "no campaign with id \(id)"
        }
    }
}

extension DeliveryStore {
    /// A store without limits of its own never holds sending back.
    public func sendingHold(now: Date) async throws -> SendingHold? { nil }

    /// Claims due deliveries of every domain.
    public func claimDue(campaign: Int64, now: Date, limit: Int, owner: String) async throws -> [ClaimedDelivery] {
        try await claimDue(campaign: campaign, now: now, limit: limit, owner: owner, excludingDomains: [])
    }

    /// Records outcomes, none of them a hard bounce.
    @discardableResult
    public func record(_ outcomes: [DeliveryOutcome], owner: String) async throws -> Int {
        try await record(outcomes, hardBounces: [], owner: owner)
    }
}
