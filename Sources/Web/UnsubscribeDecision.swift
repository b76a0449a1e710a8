import Foundation

/// What a request to `/u/TOKEN` asks for, decided from the method, the verified token
/// and the form alone: no I/O, so every path is tested without a socket.
///
/// The rule that matters (RFC 8058, and every link scanner): only a POST changes
/// anything. A GET or HEAD shows a page whose button posts; the one-click body a mailbox
/// provider sends unsubscribes at once; the page's own buttons carry an `action`.
public enum UnsubscribeDecision: Equatable, Sendable {
    /// The token is not one of ours (forged, altered, truncated): a 404 that writes nothing.
    case notFound
    /// GET or HEAD: the page with the button, nothing written.
    case showConfirmation(campaign: String, recipient: String)
    /// POST: suppress now.
    case unsubscribe(campaign: String, recipient: String, oneClick: Bool)
    /// POST from the confirmation page's undo button.
    case resubscribe(campaign: String, recipient: String)
    /// POST with a body that asks for nothing Salvo knows: a 400, nothing written.
    case badRequest

    /// The request's method as far as the decision needs it.
    public enum Method: Sendable { case get, head, post }

    /// - Parameters:
    ///   - verified: what `UnsubscribeToken.verify` found in the token, nil when it failed.
    ///   - form: the POST body's fields (empty for GET).
    public static func decide(method: Method, verified: (campaign: String, recipient: String)?, form: [String: String]) -> UnsubscribeDecision {
        guard let (campaign, recipient) = verified else { return .notFound }
        switch method {
        case .get, .head:
            return .showConfirmation(campaign: campaign, recipient: recipient)
        case .post:
            // RFC 8058 §3.2: the body is `List-Unsubscribe=One-Click`.
            if form["List-Unsubscribe"] == "One-Click" { return .unsubscribe(campaign: campaign, recipient: recipient, oneClick: true) }
            switch form["action"] {
            case "unsubscribe": return .unsubscribe(campaign: campaign, recipient: recipient, oneClick: false)
            case "resubscribe": return .resubscribe(campaign: campaign, recipient: recipient)
            default: return .badRequest
            }
        }
    }
}
