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
    let store: SalvoStore
    let clock: @Sendable () -> Date

    func add(to router: Router<BasicRequestContext>) {
        router.get("/u/:token") { request, context in try await respond(request, context, method: .get) }
        router.head("/u/:token") { request, context in try await respond(request, context, method: .head) }
        router.post("/u/:token") { request, context in try await respond(request, context, method: .post) }
    }

    private func respond(_ request: Request, _ context: BasicRequestContext, method: UnsubscribeDecision.Method) async throws -> Response {
        let token = context.parameters.get("token") ?? ""
        let verified = token.utf8.count <= settings.maxTokenLength ? UnsubscribeToken.verify(token, secret: settings.secret) : nil
        // A bad token writes nothing and reads no body.
        guard verified != nil else { throw HTTPError(.notFound) }
        var form: [String: String] = [:]
        if method == .post {
            var request = request
            let body = try await readBody(&request)
            form = FormBody.fields(body: body, contentType: request.headers[.contentType])
        }
        let target = (settings.publicURL ?? "") + "/u/" + token
        switch UnsubscribeDecision.decide(method: method, verified: verified, form: form) {
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
            return WebResponse.html(.unsubscribed(list: list, target: target, undoMinutes: Int(settings.undoWindow / 60)))
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

    /// The body, bounded in size and in time: a client that trickles it is cut off.
    private func readBody(_ request: inout Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > settings.maxBodyBytes {
            throw HTTPError(.contentTooLarge)
        }
        let limit = settings.maxBodyBytes
        let timeout = settings.bodyTimeout
        let body = request.body
        let buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else { throw HTTPError(.requestTimeout) }
            return buffer
        }
        return Array(buffer.readableBytesView)
    }
}
