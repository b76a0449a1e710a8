import Campaigns
import Foundation
import Hummingbird
import Logging
import MailMessage

/// `/p/TOKEN`: the preferences page `{{preferences_url}}` leads to. It shows the lists the
/// token's address is on and their state, and its buttons POST back here (with the
/// token in the path, never the address): unsubscribe from one list, from everything, or
/// resubscribe. The decision is `PreferencesDecision`'s; this runs it against the store.
struct PreferencesRoutes: Sendable {
    let settings: WebSettings
    let store: any WebStore
    let clock: @Sendable () -> Date

    func add(to router: Router<BasicRequestContext>) {
        router.addTokenRoute("/p/:token") { request, context, method in try await respond(request, context, method: method) }
    }

    private func respond(_ request: Request, _ context: BasicRequestContext, method: UnsubscribeDecision.Method) async throws -> Response {
        let read = try await TokenRequest.read(request, context, method: method, settings: settings)
        let target = (settings.publicURL ?? "") + "/p/" + read.token
        switch PreferencesDecision.decide(method: method, verified: read.verified, form: read.form) {
        case .notFound:
            throw HTTPError(.notFound)
        case .badRequest:
            throw HTTPError(.badRequest)
        case .show(let campaign, let recipient):
            let preferences = try await store.preferences(email: recipient, campaign: campaign)
            var page = WebResponse.html(.preferences(preferences, target: target, notice: nil))
            if method == .head { page.body = .init() }
            return page
        case .change(let campaign, let recipient, let change):
            let result = try await store.changePreferences(email: recipient, campaign: campaign, change, now: clock())
            context.logger.info("preferences", metadata: [
                "campaign": "\(campaign)", "preferences.change": "\(Self.label(change))", "preferences.result": "\(result)",
            ])
            // A list that is none of this address's: refused like any request the page
            // does not make, and nothing written.
            if result == .notOnList { throw HTTPError(.badRequest) }
            let preferences = try await store.preferences(email: recipient, campaign: campaign)
            return WebResponse.html(.preferences(preferences, target: target, notice: Self.notice(change, result)))
        }
    }

    /// The kind of change, for the log (no list name: it may say something of the person).
    static func label(_ change: PreferenceChange) -> String {
        switch change {
        case .unsubscribe: "unsubscribe-list"
        case .resubscribe: "resubscribe-list"
        case .unsubscribeFromEverything: "unsubscribe-all"
        case .resubscribeToEverything: "resubscribe-all"
        }
    }

    /// The line above the lists that says what the button did.
    static func notice(_ change: PreferenceChange, _ result: PreferenceResult) -> String {
        switch (change, result) {
        case (.unsubscribe(let list), _): "You are unsubscribed from \(list)."
        case (.resubscribe(let list), .notLiftable): "Mail from \(list) stays stopped."
        case (.resubscribe(let list), _): "You are subscribed to \(list) again."
        case (.unsubscribeFromEverything, _): "You are unsubscribed from everything."
        case (.resubscribeToEverything, .notLiftable): "Mail to this address stays stopped."
        case (.resubscribeToEverything, _): "You can receive mail again from the lists you are subscribed to."
        }
    }
}
