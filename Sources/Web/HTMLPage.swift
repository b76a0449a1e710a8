import Foundation

/// The few pages `salvo serve` shows, as whole HTML documents. Every value that comes
/// from outside (a list name, a campaign name, a URL) goes through `escape`, and the
/// pages load nothing: the style is inline and the Content-Security-Policy forbids all
/// else.
public struct HTMLPage: Sendable, Equatable {
    public var title: String
    /// Already escaped HTML for the body.
    public var body: String

    public init(title: String, body: String) {
        self.title = title
        self.body = body
    }

    /// Text made safe for an element's content or a quoted attribute.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// The style of every page; its hash is in the Content-Security-Policy.
    static let style = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}p.small{color:#666;font-size:.9rem}"

    public var html: String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex, nofollow">
        <title>\(HTMLPage.escape(title))</title>
        <style>\(HTMLPage.style)</style>
        </head>
        <body>
        <main>
        \(body)
        </main>
        </body>
        </html>

        """
    }

    /// A form of one button that posts `action` to `target`.
    static func button(target: String, action: String, label: String, id: String) -> String {
        """
        <form method="post" action="\(escape(target))">
        <input type="hidden" name="action" value="\(escape(action))">
        <button type="submit" id="\(escape(id))">\(escape(label))</button>
        </form>
        """
    }

    // MARK: The pages

    static func confirm(list: String?, target: String) -> HTMLPage {
        let name = list.map { "<strong id=\"list\">\(escape($0))</strong>" } ?? "this mailing list"
        return HTMLPage(title: "Unsubscribe", body: """
            <h1>Unsubscribe</h1>
            <p>Stop receiving mail from \(name)?</p>
            \(button(target: target, action: "unsubscribe", label: "Unsubscribe", id: "unsubscribe"))
            <p class="small">Nothing changes until you press the button. Other lists you receive are not affected.</p>
            """)
    }

    /// `preferences`: the recipient's preferences page, for other lists and "everything".
    static func unsubscribed(list: String?, target: String, undoMinutes: Int, preferences: String? = nil) -> HTMLPage {
        let name = list.map { "<strong id=\"list\">\(escape($0))</strong>" } ?? "this mailing list"
        let others = preferences.map { "\n<p class=\"small\"><a id=\"preferences\" href=\"\(escape($0))\">Your preferences</a>: other lists, or unsubscribe from everything.</p>" } ?? ""
        return HTMLPage(title: "Unsubscribed", body: """
            <h1 id="done">You are unsubscribed</h1>
            <p>You will receive no more mail from \(name).</p>
            \(button(target: target, action: "resubscribe", label: "Undo: resubscribe", id: "resubscribe"))
            <p class="small">Pressed by mistake? The button above undoes it for the next \(undoMinutes) minutes.</p>\(others)
            """)
    }

    static func resubscribed(list: String?) -> HTMLPage {
        let name = list.map { "<strong id=\"list\">\(escape($0))</strong>" } ?? "this mailing list"
        return HTMLPage(title: "Resubscribed", body: """
            <h1 id="resubscribed">You are subscribed again</h1>
            <p>You will keep receiving mail from \(name).</p>
            """)
    }

    static func undoClosed() -> HTMLPage {
        HTMLPage(title: "Unsubscribed", body: """
            <h1 id="undo-closed">This unsubscribe can no longer be undone here</h1>
            <p>You stay unsubscribed. To receive this mail again, sign up once more.</p>
            """)
    }

    static func status(_ code: Int, _ heading: String, _ text: String) -> HTMLPage {
        HTMLPage(title: heading, body: """
            <h1 id="status-\(code)">\(escape(heading))</h1>
            <p>\(escape(text))</p>
            """)
    }
}
