@testable import Campaigns
import Delivery
import Foundation
import Testing

@Suite struct SendProgressTests {
    /// A resumed send: 10,000 recipients, 4,000 final before this run (3,900 sent, 100
    /// suppressed); this run has made 1,000 final in 10 s and deferred 50.
    @Test func countsRecipientsFromTheCampaignsTotalsAndEstimatesTheRest() {
        var progress = SendProgress(counts: DeliveryCounts(byState: [.sent: 3_900, .suppressed: 100, .pending: 6_000]),
                                    startedAt: at(1_000))
        #expect(progress.line(at: at(1_000)).hasSuffix("4000/10000 (40%) sent 3900 deferred 0 bounced 0 failed 0 unknown 0, 0/s  ETA --"))
        progress.update(SendProgress.Outcomes(sent: 980, deferred: 50, bounced: 15, failed: 5))
        #expect(progress.done == 5_000 && progress.sent == 4_880 && progress.deferred == 50)
        #expect(progress.rate(at: at(1_010)) == 100)
        // 5,000 left, 50 of them waiting for a retry: 4,950 at 100/s.
        #expect(progress.remaining(at: at(1_010)) == 49.5)
        #expect(progress.line(at: at(1_010)) == "1970-01-01T00:16:50Z 5000/10000 (50%) sent 4880 deferred 50 bounced 15 failed 5 unknown 0, 100/s  ETA 0:50")
        let bar = progress.bar(at: at(1_010), width: 140)
        #expect(bar.hasPrefix("[###############...............]  50% 5000/10000  sent 4880"), "\(bar)")
        #expect(bar.hasSuffix("100/s  ETA 0:50"))
    }

    /// Retries with --wait defer one recipient many times: deferred never exceeds the
    /// recipients not final, and done never exceeds the total.
    @Test func retriedAttemptsAreNotCountedAsMoreRecipients() {
        var progress = SendProgress(counts: DeliveryCounts(byState: [.pending: 3]), startedAt: at(0))
        progress.update(SendProgress.Outcomes(sent: 2, deferred: 12))
        #expect(progress.deferred == 1 && progress.done == 2 && progress.fraction == 2.0 / 3.0)
        #expect(SendProgress.duration(3_725) == "1:02:05")
    }
}
