import Foundation

/// What `salvo bounces import` asks of a store, so it runs on the SQLite store
/// (`SalvoStore`) and on PostgreSQL alike. What a report means is `BounceReading`'s and
/// `BounceMatcher`'s; the store looks deliveries up and writes the outcome. An
/// unsubscribe mail is recorded through `recordUnsubscribe`, as the web link's is.
public protocol BounceStore: WebStore {
    /// Records one report in one transaction, its `bounce_messages` row included, so a
    /// crash mid-import leaves each message wholly applied or not at all. A message whose
    /// bytes (`sha256`) were recorded before changes nothing: `.alreadyProcessed`.
    func recordBounce(_ reading: BounceReading, sha256: String, place: String, matcher: BounceMatcher) async throws -> BounceRecording

    /// Whether a message with these bytes was imported before.
    func bounceMessageRecorded(sha256: String) async throws -> Bool

    /// Remembers a message that is not a report (an unsubscribe mail) as imported; `kind`
    /// is `unsubscribe` or `refused-unsubscribe`.
    func recordImportedMessage(sha256: String, place: String, kind: String, now: Date) async throws

    /// The address as Salvo mailed it and the campaign of the latest message sent to
    /// `address` (compared ignoring case), or nil when Salvo never sent it one.
    func latestCampaign(mailedTo address: String) async throws -> (email: String, campaign: String)?
}

extension SalvoStore: BounceStore {}
