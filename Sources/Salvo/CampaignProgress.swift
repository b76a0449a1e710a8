import Campaigns
import Delivery
import Foundation
import NIOConcurrencyHelpers

/// What `salvo send` and `salvo run` show while a campaign sends: the recipients its start
/// queued, then the progress bar on a terminal or a timestamped line every five seconds
/// off one. `run` names the campaign in each line, since one run sends several.
final class CampaignProgress: Sendable {
    private let campaign: String
    private let namesCampaign: Bool
    private let progress = ProgressLine(unit: "")
    private let tracker = NIOLockedValueBox<SendProgress?>(nil)

    init(campaign: String, namesCampaign: Bool = false) {
        (self.campaign, self.namesCampaign) = (campaign, namesCampaign)
    }

    /// For `CampaignSender.run(onStart:)`.
    func started(_ start: CampaignStart, counts: DeliveryCounts) {
        if start.queued > 0 || start.suppressed > 0 {
            printNow("campaign '\(campaign)': \(start.queued) recipients queued\(start.suppressed > 0 ? ", \(start.suppressed) suppressed" : "")")
        }
        // From the campaign's totals, so a resumed send goes on from where it was.
        tracker.withLockedValue { $0 = SendProgress(counts: counts, startedAt: Date()) }
    }

    /// For `CampaignSender.run(onProgress:)`.
    func progressed(_ summary: DeliveryEngine.Summary) {
        guard let shown = tracker.withLockedValue({ $0?.update(summary); return $0 }) else { return }
        let campaign = namesCampaign ? campaign : nil
        progress.show(terminal: { shown.bar(at: $0, width: self.progress.columns) },
                      log: { shown.line(at: $0, campaign: campaign) }, logInterval: 5)
    }

    /// Clears the in-place line before the command prints its result.
    func finish() { progress.finish() }
}
