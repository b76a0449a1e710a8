@testable import Campaigns
import Delivery
import Foundation
import Testing

@Suite struct ReputationGuardTests {
    /// 600 recipients, 7% of them bouncing: once 500 are attempted the campaign pauses
    /// itself, says why, and claims stop.
    @Test func aCampaignWithTooManyBouncesPausesItself() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 600))
        defer { fixture.remove() }
        // A second handle on the same file whose guard counts at every batch.
        let store = try SalvoStore(path: fixture.store.path, reputationGuard: ReputationGuard(interval: 0))
        let campaign = try fixture.id()
        _ = try store.startCampaign(named: fixture.campaign, now: at(10))
        var attempted = 0
        while attempted < 560 {
            let claimed = try await store.claimDue(campaign: campaign, now: at(100), limit: 40, owner: "engine")
            if claimed.isEmpty { break }
            let ids = claimed.map(\.id)
            _ = try await store.markSending(ids, owner: "engine", now: at(101))
            let outcomes = ids.enumerated().map { index, id in
                fixture.outcome(id, (attempted + index) % 14 == 0 ? .bounced : .sent, code: (attempted + index) % 14 == 0 ? 550 : 250)
            }
            try await store.record(outcomes, hardBounces: [], owner: "engine")
            attempted += ids.count
            if try store.campaignState(named: fixture.campaign) == "paused" { break }
        }
        #expect(try store.campaignState(named: fixture.campaign) == "paused")
        #expect(attempted >= 500 && attempted <= 560, "\(attempted)")
        let status = try store.status(campaign: fixture.campaign)
        #expect(status.reason?.contains("reputation guard") == true, "\(status.reason ?? "-")")
        #expect(try await store.claimDue(campaign: campaign, now: at(100), limit: 40, owner: "engine").isEmpty)
    }
}
