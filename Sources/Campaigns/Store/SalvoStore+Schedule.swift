import Foundation
import GRDB

extension SalvoStore {
    /// Schedules a draft (or reschedules a scheduled) campaign: `salvo run` starts it at
    /// the first run at or after `time`.
    public func scheduleCampaign(named name: String, at time: Date) throws {
        try writer.write { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            guard state == "draft" || state == "scheduled" else {
                throw CampaignStateError.wrongState(name, state: state, action: "schedule")
            }
            try db.execute(sql: "UPDATE campaigns SET state = 'scheduled', scheduled_at = ? WHERE name = ?",
                           arguments: [Int64(time.timeIntervalSince1970.rounded(.down)), name])
        }
    }
}
