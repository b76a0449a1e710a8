import Delivery
import Foundation

/// What `DeliveryStoreContract` needs from a store under test beyond `DeliveryStore`
/// itself: making one, and seeding it the way the rest of the product would (a list and a
/// started campaign, the suppression list, a user's pause or cancel). One conformance per
/// store: SQLite in CampaignsTests, `InMemoryDeliveryStore` here, PostgreSQL next.
public protocol DeliveryStoreFixture: Sendable {
    associatedtype Store: DeliveryStore

    /// A new, empty store with these limits.
    func makeStore(_ settings: ContractSettings) async throws -> Store

    /// Another handle on the same data, as a second process (or host) has it.
    func secondHandle(on store: Store) async throws -> Store

    /// A running campaign with one `pending` delivery per address, due at once, their ids
    /// ascending in the order given.
    func startCampaign(recipients: [String], in store: Store) async throws -> Int64

    /// A running campaign on the list named `list` (made, or added to, with these
    /// recipients), one `pending` delivery per address as `startCampaign(recipients:in:)`.
    func startCampaign(recipients: [String], onList list: String, in store: Store) async throws -> Int64

    /// Adds `email` to the suppression list (reason `manual`).
    func suppress(_ email: String, in store: Store) async throws

    /// Suppresses `email` on the list named `list` only, as an unsubscribe from that
    /// list's mail does.
    func suppress(_ email: String, onList list: String, in store: Store) async throws

    func isSuppressed(_ email: String, in store: Store) async throws -> Bool

    /// What a user's `salvo pause`, `resume` or `cancel` does to the campaign.
    func setControl(_ control: CampaignControl, campaign: Int64, in store: Store) async throws

    /// Frees what `makeStore` made.
    func remove(_ store: Store)
}

/// The limits a contract rule makes its store with.
public struct ContractSettings: Sendable {
    /// `quota.per_day`, nil for none.
    public var perDay: Int?
    /// The reputation guard's bounce rate above which a campaign pauses, nil for no guard.
    public var maxBounceRate: Double?
    /// Attempts before the guard's rate means anything.
    public var minimumAttempts: Int
    /// "Now" for the store's own sense of the day (the quota).
    public var today: Date

    public init(perDay: Int? = nil, maxBounceRate: Double? = nil, minimumAttempts: Int = 1, today: Date) {
        self.perDay = perDay
        self.maxBounceRate = maxBounceRate
        self.minimumAttempts = minimumAttempts
        self.today = today
    }
}

/// A rule a store broke: which, and what was seen.
public struct ContractViolation: Error, CustomStringConvertible {
    public var rule: String
    public var seen: String
    public var description: String { "\(rule): \(seen)" }
}
