import Campaigns

/// What a request to `/p/TOKEN` asks for, decided from the method, the verified token
/// and the form alone (no I/O), as `UnsubscribeDecision` decides for `/u/TOKEN`.
///
/// Only a POST changes anything, and only with one of the page's own actions: a link
/// scanner fetching the page leaves every choice as it was.
public enum PreferencesDecision: Equatable, Sendable {
    /// The token is not one of ours: a 404 that writes nothing.
    case notFound
    /// GET or HEAD: the page, nothing written.
    case show(campaign: String, recipient: String)
    /// POST of one of the page's buttons.
    case change(campaign: String, recipient: String, PreferenceChange)
    /// POST that asks for nothing the page offers: a 400, nothing written.
    case badRequest

    /// The `action` values of the page's forms.
    public enum Action: String, Sendable {
        case unsubscribeList = "unsubscribe-list"
        case resubscribeList = "resubscribe-list"
        case unsubscribeAll = "unsubscribe-all"
        case resubscribeAll = "resubscribe-all"
    }

    public static func decide(method: UnsubscribeDecision.Method, verified: (campaign: String, recipient: String)?,
                              form: [String: String]) -> PreferencesDecision {
        guard let (campaign, recipient) = verified else { return .notFound }
        switch method {
        case .get, .head:
            return .show(campaign: campaign, recipient: recipient)
        case .post:
            guard let action = form["action"].flatMap(Action.init(rawValue:)) else { return .badRequest }
            let list = form["list"].flatMap { $0.isEmpty ? nil : $0 }
            switch action {
            case .unsubscribeList:
                guard let list else { return .badRequest }
                return .change(campaign: campaign, recipient: recipient, .unsubscribe(list: list))
            case .resubscribeList:
                guard let list else { return .badRequest }
                return .change(campaign: campaign, recipient: recipient, .resubscribe(list: list))
            case .unsubscribeAll: return .change(campaign: campaign, recipient: recipient, .unsubscribeFromEverything)
            case .resubscribeAll: return .change(campaign: campaign, recipient: recipient, .resubscribeToEverything)
            }
        }
    }
}
