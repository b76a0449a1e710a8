import Campaigns

extension HTMLPage {
    /// The preferences page: the global state, then each list with its state and the one
    /// button that changes it. Every list name is escaped; the forms carry the list's name
    /// and an action, and post to `target` (the token's own URL).
    static func preferences(_ preferences: SubscriptionPreferences, target: String, notice: String?) -> HTMLPage {
        var body = "<h1>Your email preferences</h1>\n"
        if let notice { body += "<p id=\"notice\"><strong>\(escape(notice))</strong></p>\n" }
        if let reason = preferences.globalReason {
            if preferences.canResubscribeGlobally {
                body += """
                    <p id="global-state">You are unsubscribed from everything: no list sends you mail.</p>
                    \(form(target: target, action: .resubscribeAll, list: nil, label: "Resubscribe", id: "resubscribe-all"))

                    """
            } else {
                body += """
                    <p id="global-state">Mail to this address is stopped \(escape(Self.why(reason))). This page cannot change that.</p>

                    """
            }
        }
        body += "<h2>Lists</h2>\n<ul id=\"lists\">\n"
        for state in preferences.lists {
            let this = state.list == preferences.campaignList ? " <span class=\"this\">(this list)</span>" : ""
            body += "<li data-list=\"\(escape(state.list))\"><strong class=\"list-name\">\(escape(state.list))</strong>\(this): "
            if !state.unsubscribed {
                body += "<span class=\"state\">subscribed</span>\n"
                body += form(target: target, action: .unsubscribeList, list: state.list, label: "Unsubscribe from this list", id: nil)
            } else if state.canResubscribe {
                body += "<span class=\"state\">unsubscribed</span>\n"
                body += form(target: target, action: .resubscribeList, list: state.list, label: "Resubscribe", id: nil)
            } else {
                body += "<span class=\"state\">stopped by the sender</span>\n"
            }
            body += "</li>\n"
        }
        body += "</ul>\n"
        if preferences.globalReason == nil {
            body += form(target: target, action: .unsubscribeAll, list: nil, label: "Unsubscribe from everything", id: "unsubscribe-all")
            body += "\n<p class=\"small\">Unsubscribing from everything stops every list at once.</p>\n"
        }
        return HTMLPage(title: "Email preferences", body: body)
    }

    /// A form of one button: the action, and the list it is about.
    private static func form(target: String, action: PreferencesDecision.Action, list: String?, label: String, id: String?) -> String {
        let listField = list.map { "<input type=\"hidden\" name=\"list\" value=\"\(escape($0))\">\n" } ?? ""
        let idAttribute = id.map { " id=\"\(escape($0))\"" } ?? ""
        return """
            <form method="post" action="\(escape(target))">
            <input type="hidden" name="action" value="\(action.rawValue)">
            \(listField)<button type="submit"\(idAttribute)>\(escape(label))</button>
            </form>
            """
    }

    /// Why a suppression that is not the recipient's own stands, in words.
    private static func why(_ reason: String) -> String {
        switch SuppressionReason(rawValue: reason) {
        case .hardBounce: "because messages to it could not be delivered"
        case .complaint: "because a message was reported as spam"
        case .manual, .unsubscribe, nil: "by the sender"
        }
    }
}
