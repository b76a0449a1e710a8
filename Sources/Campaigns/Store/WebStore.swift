import Foundation
import GRDB

/// What `salvo serve` asks of a store, so the links in sent mail work on the SQLite store
/// (`SalvoStore`) and on PostgreSQL alike: unsubscribes and their undo, the preferences
/// page, opens and clicks, and the campaign whose message `/v/` renders again. Each call
/// is one short transaction: a burst of requests interleaves with a running send instead
/// of holding it off.
public protocol WebStore: Sendable {
    /// Suppresses `email` on `campaign`'s list (globally when the store no longer has the
    /// campaign: an unsubscribe is never dropped). A repeat changes nothing; one after an
    /// undo unsubscribes again.
    func recordUnsubscribe(email: String, campaign: String, channel: UnsubscribeChannel, now: Date) async throws -> UnsubscribeResult

    /// Undoes the unsubscribe of `email` from `campaign` made no longer than `window`
    /// before `now`; a suppression another unsubscribe or another reason holds stays.
    func resubscribe(email: String, campaign: String, window: TimeInterval, now: Date) async throws -> ResubscribeResult

    /// The name of the list `campaign` mails, nil when the store has no such campaign.
    func listName(ofCampaign campaign: String) async throws -> String?

    /// The lists the preferences page shows `email`, and their state.
    func preferences(email: String, campaign: String) async throws -> SubscriptionPreferences

    /// One change made on the preferences page, as far as the address may make it.
    func changePreferences(email: String, campaign: String, _ change: PreferenceChange, now: Date) async throws -> PreferenceResult

    /// The delivery a tracking or view token names, nil when the store has none.
    func trackedDelivery(id: Int64) async throws -> TrackedDelivery?

    /// Records one open or click (`link`: a click's position and target).
    func recordTrackingEvent(delivery: Int64, kind: TrackingEventKind, link: (position: Int, target: String)?,
                             verdict: TrackingVerdict, now: Date) async throws

    /// A campaign's stored definition and the path of its file, which `/v/` renders from.
    func campaign(named name: String) async throws -> (definition: CampaignDefinition, sourcePath: String)
}

extension SalvoStore: WebStore {}

/// An error of the store itself rather than of what was asked (a busy or unreadable
/// SQLite file, a PostgreSQL server gone or refusing): `salvo serve` answers it 503,
/// "try again soon".
public protocol StoreServerError: Error {
    /// What the log may say of it: a code, never a query or its values.
    var logCode: String { get }
}

extension DatabaseError: StoreServerError {
    /// SQLite's result code.
    public var logCode: String { "\(resultCode)" }
}
