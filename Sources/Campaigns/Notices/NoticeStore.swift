import Delivery
import Foundation

/// What `NoticeSender` asks of a store, so the notices queued on SQLite and on PostgreSQL
/// are sent alike: the claim that keeps two senders (on any host) from sending one notice,
/// the rendered message kept for every later attempt, the outcome, and what a notice says.
public protocol NoticeStore: Sendable {
    /// Takes the notices to send now: pending ones, and those whose claim is older than
    /// `SalvoStore.noticeLease`. Each attempt is counted here, before any byte goes out.
    func claimNotices(owner: String, now: Date) async throws -> [Notice]
    /// Keeps the rendered message (once), so every later attempt sends the same bytes.
    func saveNoticeMessage(id: Int64, mailFrom: String, rcptTo: String, messageID: String, message: [UInt8]) async throws
    /// A server took the notice (or may have: `note` says so).
    func noticeSent(id: Int64, owner: String, note: String?, now: Date) async throws
    /// The attempt failed: `pending` again, or `failed` for good when permanent or the
    /// attempts are spent. Returns the state it is left in.
    func noticeFailed(id: Int64, owner: String, error: String, permanent: Bool) async throws -> Notice.State
    /// The name of campaign `id`.
    func campaignName(id: Int64) async throws -> String
    /// The stored definition of a campaign and the file it was created from.
    func campaign(named name: String) async throws -> (definition: CampaignDefinition, sourcePath: String)
    /// The failure summary of campaign `id` as the store stands now.
    func failureSummary(campaign id: Int64, top: Int) async throws -> FailureSummary
    /// How many of a campaign's deliveries are in each state.
    func deliveryCounts(campaign name: String) async throws -> DeliveryCounts
}

extension SalvoStore: NoticeStore {}
