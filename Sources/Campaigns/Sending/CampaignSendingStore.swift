import Delivery
import Foundation

/// What sending a campaign asks of a store besides the engine's `DeliveryStore`: the
/// stored campaign, its start (one delivery per recipient its segment selects), the
/// campaigns due, the notices waiting, the pause, resume and cancel that steer every
/// sender of it, and its status (`CampaignStatusStore`). `CampaignSender` and the commands
/// around it need no more, so `salvo send`, `run`, `pause`, `resume`, `cancel` and `status`
/// run on the SQLite store (`SalvoStore`) and on PostgreSQL alike.
public protocol CampaignSendingStore: DeliveryStore, CampaignStatusStore {
    /// Where the store is, for messages: the SQLite file, or "PostgreSQL at HOST:PORT/DB".
    var place: String { get }

    /// The id of the campaign called `name`; `StoreError.campaignNotFound` if none.
    func campaignID(named name: String) async throws -> Int64

    /// The stored campaign checked again as at `create` (a template edited since may name a
    /// field the list lacks), with what renders it.
    func checkedCampaign(named name: String, configuration: SalvoConfiguration,
                         environment: [String: String]) async throws -> CheckedCampaign

    /// Starts the campaign, or goes on with it: adds a delivery for each recipient its
    /// segment selects that it does not have yet (a suppressed address as `suppressed`,
    /// leaving out those sent the campaigns it excludes) unless its audience was decided at
    /// its first start, and makes it `running` (a paused one stays paused). A cancelled
    /// campaign is `CampaignStateError.cancelled`.
    func startCampaign(named name: String, now: Date) async throws -> CampaignStart

    /// The campaigns a `salvo run` at `now` sends, in the order it sends them: the running
    /// ones (their retries may be due) and the scheduled ones whose time has come, oldest
    /// first.
    func campaignsToRun(now: Date) async throws -> [String]

    /// `salvo pause`: a running campaign becomes `paused` (with `reason`); its senders stop
    /// claiming and hand back what they hold. Any other state is `CampaignStateError`.
    func pauseCampaign(named name: String, reason: String?) async throws

    /// `salvo resume`: a paused campaign becomes `running` again.
    func resumeCampaign(named name: String) async throws

    /// `salvo cancel`: every delivery not yet on a connection (`pending`, `deferred`,
    /// `claimed`) becomes `cancelled`, and so does the campaign; returns how many
    /// deliveries were. A finished or cancelled campaign is `CampaignStateError`.
    func cancelCampaign(named name: String, now: Date) async throws -> Int

    /// Sends the notices waiting (a finished campaign's failure summary, the daily quota's
    /// warnings); what could not be sent is a warning, never an error.
    func sendPendingNotices(configuration: SalvoConfiguration, environment: [String: String]) async -> NoticeSender.Report
}

extension SalvoStore: CampaignSendingStore {
    public var place: String { path }

    public func sendPendingNotices(configuration: SalvoConfiguration, environment: [String: String]) async -> NoticeSender.Report {
        await NoticeSender(store: self, configuration: configuration, environment: environment).sendPending()
    }
}
