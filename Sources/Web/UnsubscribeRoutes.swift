import Campaigns
import Foundation
import Hummingbird
import Logging
import MailMessage
import NIOCore

/// `/u/TOKEN`: the page a GET shows, and the POSTs that unsubscribe (RFC 8058 one-click,
/// or the page's button) and undo. The decision is `UnsubscribeDecision`'s; this runs it
/// against the store.
struct UnsubscribeRoutes: Sendable {
    let settings: WebSettings
    let store: any WebStore
    let clock: @Sendable () -> Date

    func add(to router: Router<BasicRequestContext>) {
        router.addTokenRoute("/u/:token") { request, context, method in try await respond(request, context, method: method) }
    }

    private func respond(_ request: Request, _ context: BasicRequestContext, method: UnsubscribeDecision.Method) async throws -> Response {
        let read = try await TokenRequest.read(request, context, method: method, settings: settings)
        let target = (settings.publicURL ?? "") + "/u/" + read.token
        switch UnsubscribeDecision.decide(method: method, verified: read.verified, form: read.form) {
        case .notFound:
            throw HTTPError(.notFound)
        case .badRequest:
            throw HTTPError(.badRequest)
        case .showConfirmation(let campaign, _):
            let list = try await store.listName(ofCampaign: campaign)
            var page = WebResponse.html(.confirm(list: list, target: target))
            // HEAD: the same status and headers, no body.
            if method == .head { page.body = .init() }
            return page
        case .unsubscribe(let campaign, let recipient, let oneClick):
            let result = try await store.recordUnsubscribe(email: recipient, campaign: campaign, channel: oneClick ? .oneClick : .page, now: clock())
            context.logger.info("unsubscribe", metadata: [
                "campaign": "\(campaign)", "unsubscribe.channel": "\(oneClick ? "one-click" : "page")",
                "unsubscribe.new": "\(result == .unsubscribed)",
            ])
            // RFC 8058: a plain answer, no redirect, to the provider's POST.
            if oneClick { return WebResponse.text("Unsubscribed.\n") }
            let list = try await store.listName(ofCampaign: campaign)
            return WebResponse.html(.unsubscribed(list: list, target: target, undoMinutes: Int(settings.undoWindow / 60),
                                                  preferences: (settings.publicURL ?? "") + "/p/" + read.token))
        case .resubscribe(let campaign, let recipient):
            let result = try await store.resubscribe(email: recipient, campaign: campaign, window: settings.undoWindow, now: clock())
            context.logger.info("resubscribe", metadata: ["campaign": "\(campaign)", "resubscribe.result": "\(result)"])
            let list = try await store.listName(ofCampaign: campaign)
            switch result {
            case .resubscribed: return WebResponse.html(.resubscribed(list: list))
            // Nothing open to undo (never unsubscribed, or undone already): the same page
            // as a success, which tells nothing about the address either way.
            case .nothingToUndo: return WebResponse.html(.resubscribed(list: list))
            case .tooLate: return WebResponse.html(.undoClosed())
            }
        }
    }
}
