import Foundation

/// What `salvo campaign`, `salvo schedule` and `salvo preview` ask of a store, so they run
/// on the SQLite store (`SalvoStore`) and on PostgreSQL alike. The rules of what may
/// change in which state are here, once, for both.
public protocol CampaignCatalogStore: Sendable {
    /// Stores a checked campaign as a draft (`CampaignDefinition.checked` against the
    /// list's fields and the campaigns it excludes). A name taken is
    /// `StoreError.campaignExists`, a list missing `StoreError.listNotFound`.
    func createCampaign(_ definition: CampaignDefinition, sourcePath: String, now: Date) async throws

    /// Replaces a campaign's stored definition, found by its name, as far as its state
    /// allows (`CampaignUpdate.allowed`).
    func updateCampaign(_ definition: CampaignDefinition, sourcePath: String) async throws -> CampaignUpdate

    /// The stored settings, state, times and audience of a campaign.
    func campaignDetails(named name: String) async throws -> CampaignDetails

    /// A new draft named `newName` with `name`'s stored settings.
    func cloneCampaign(named name: String, as newName: String, now: Date) async throws

    /// Deletes a draft or scheduled campaign; archives a finished or cancelled one.
    func deleteCampaign(named name: String, now: Date) async throws -> CampaignRemoval

    /// The campaigns, oldest first; archived ones only with `includeArchived`.
    func campaigns(includeArchived: Bool) async throws -> [CampaignSummary]

    /// Schedules a draft (or reschedules a scheduled) campaign for `time`, not before `now`.
    func scheduleCampaign(named name: String, at time: Date, now: Date) async throws

    /// A recipient of `list`: the one with address `email`, or else the first (by import
    /// order) that `segment` selects. Nil when there is none.
    func recipient(list: String, email: String?, segment: String?) async throws -> StoredRecipient?
}

extension SalvoStore: CampaignCatalogStore {
    public func createCampaign(_ definition: CampaignDefinition, sourcePath: String, now: Date) async throws {
        let _: Int64 = try createCampaign(definition, sourcePath: sourcePath, now: now)
    }
}

extension CampaignUpdate {
    /// Whether a campaign in `state` may take a change of `changed` keys: a draft or
    /// scheduled one anything, a running or paused one only
    /// `SalvoStore.keysChangeableWhileSending`, a finished or cancelled one nothing.
    public static func allowed(_ changed: [String], campaign name: String, state: String) throws {
        switch state {
        case "draft", "scheduled":
            return
        case "running", "paused":
            let refused = changed.filter { !SalvoStore.keysChangeableWhileSending.contains($0) }
            if !refused.isEmpty {
                throw CampaignUpdateError.unsafeWhileSending(name, state: state, keys: refused)
            }
        default:
            throw CampaignUpdateError.alreadySent(name, state: state)
        }
    }
}

extension CampaignDefinition {
    /// The definition a clone named `newName` gets: this one, renamed, no longer
    /// excluding itself.
    public func cloned(as newName: String) throws -> CampaignDefinition {
        guard !newName.isEmpty, !newName.contains(where: { $0.isNewline || $0.isWhitespace && $0 != " " }) else {
            throw CampaignUpdateError.badName(newName)
        }
        var definition = self
        definition.name = newName
        definition.exclude = definition.exclude?.filter { $0 != newName }
        if definition.exclude?.isEmpty == true { definition.exclude = nil }
        return definition
    }

    /// The keys of the campaign file on which `self` and `new` differ, in the file's order.
    public func changedKeys(to new: CampaignDefinition) -> [String] {
        SalvoStore.changedKeys(from: self, to: new)
    }
}

extension CampaignRemoval {
    /// What `salvo campaign delete` does to a campaign in `state`: a draft or scheduled
    /// one goes, a finished or cancelled one is archived (once), a running or paused one
    /// is refused.
    public static func of(campaign name: String, state: String, archived: Bool) throws -> CampaignRemoval {
        switch state {
        case "draft", "scheduled": return .deleted
        case "finished", "cancelled":
            if archived { throw CampaignUpdateError.alreadyArchived(name) }
            return .archived
        default:
            throw CampaignUpdateError.deleteWhileSending(name, state: state)
        }
    }
}

extension ScheduleError {
    /// A schedule for `time` when it is `now`: a time past is refused (usually a typo of
    /// the year or time zone; `--at now` says that intent).
    public static func check(campaign: String, time: Date, now: Date) throws {
        if time.timeIntervalSince1970.rounded(.down) < now.timeIntervalSince1970.rounded(.down) {
            throw ScheduleError(campaign: campaign, time: time, now: now)
        }
    }

    /// The states a campaign may be scheduled in.
    public static func schedulable(campaign: String, state: String) throws {
        guard state == "draft" || state == "scheduled" else {
            throw CampaignStateError.wrongState(campaign, state: state, action: "schedule")
        }
    }
}
