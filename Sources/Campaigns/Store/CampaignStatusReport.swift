import Delivery
import Foundation

/// Everything `salvo status` shows of one campaign, read from whichever store holds it.
public struct CampaignStatusReport: Sendable {
    public var status: CampaignStatus
    public var timing: CampaignTiming
    /// Before it starts, how many recipients its segment selects today; nil once started
    /// (its deliveries are its audience then).
    public var audience: Int?
    public var suppressedBy: [SuppressionScope: Int]
    public var unsubscribes: [UnsubscribeChannel: Int]
    public var tracking: [TrackingEventKind: TrackingCounts]
    public var quota: QuotaUse
    public var notices: [Notice]

    public init(status: CampaignStatus, timing: CampaignTiming, audience: Int?, suppressedBy: [SuppressionScope: Int],
                unsubscribes: [UnsubscribeChannel: Int], tracking: [TrackingEventKind: TrackingCounts], quota: QuotaUse,
                notices: [Notice]) {
        self.status = status
        self.timing = timing
        self.audience = audience
        self.suppressedBy = suppressedBy
        self.unsubscribes = unsubscribes
        self.tracking = tracking
        self.quota = quota
        self.notices = notices
    }
}

/// A store `salvo status` and `salvo report` read: the SQLite store and the PostgreSQL one.
public protocol CampaignStatusStore: Sendable {
    /// The campaign called `name` as `salvo status` shows it; `StoreError.campaignNotFound`
    /// if there is none.
    func statusReport(campaign name: String) async throws -> CampaignStatusReport

    /// Every delivery of the campaign, in delivery order: the report's rows.
    func deliveryReport(campaign name: String) async throws -> [DeliveryReportRow]

    /// Each tracked link of the campaign that was followed, by position, with its clicks.
    func linkClicks(campaign name: String) async throws -> [LinkClicks]
}

extension SalvoStore: CampaignStatusStore {
    public func statusReport(campaign name: String) async throws -> CampaignStatusReport {
        let timing = try campaignTiming(named: name)
        return CampaignStatusReport(
            status: try status(campaign: name), timing: timing,
            audience: timing.startedAt == nil ? try campaignDetails(named: name).audience : nil,
            suppressedBy: try suppressionCounts(campaign: name), unsubscribes: try unsubscribeCounts(campaign: name),
            tracking: try trackingCounts(campaign: name), quota: try quotaUse(), notices: try notices(campaign: name))
    }
}
