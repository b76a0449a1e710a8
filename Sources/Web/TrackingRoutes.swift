import Campaigns
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MailMessage
import NIOCore

/// `/c/TOKEN` (a tracked link: a 302 to its target), `/o/TOKEN` (the open pixel) and
/// `/v/TOKEN` (the message as a web page). Each token names a delivery; a click's also
/// the link's position, and its MAC covers the target, which is found again in the
/// delivery's own message as `DeliveryMessages` renders it: a target that was not in
/// that message, an edited position or an altered token is a 404, so no URL can be made
/// to redirect anywhere else.
struct TrackingRoutes: Sendable {
    let settings: WebSettings
    let store: any WebStore
    let messages: DeliveryMessages?
    let classifier: TrackingEventClassifier
    let clock: @Sendable () -> Date

    func add(to router: Router<BasicRequestContext>) {
        for path in ["/c/:token", "/o/:token", "/v/:token"] {
            router.get(RouterPath(path)) { request, context in try await respond(request, context, path: path, isHead: false) }
            router.head(RouterPath(path)) { request, context in try await respond(request, context, path: path, isHead: true) }
        }
    }

    /// The 1×1 transparent GIF of the open pixel.
    static let pixel: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]

    /// The page of `/v/`: the message's own HTML, so its images and inline styles may
    /// load; still no script, no form, no frame.
    static let viewPolicy = "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

    private func respond(_ request: Request, _ context: BasicRequestContext, path: String, isHead: Bool) async throws -> Response {
        let token = context.parameters.get("token") ?? ""
        let kind: TrackingToken.Kind = path.hasPrefix("/c/") ? .click : path.hasPrefix("/o/") ? .open : .view
        let tokens = TrackingToken.Maker(secret: settings.secret)
        guard token.utf8.count <= settings.maxTokenLength, let claim = tokens.read(token, kind: kind) else { throw HTTPError(.notFound) }
        // An open's and a view's MAC need nothing but the token: checked before any read.
        if kind != .click, !tokens.verify(token, claim: claim, target: nil) { throw HTTPError(.notFound) }
        guard let delivery = try await store.trackedDelivery(id: claim.delivery) else { throw HTTPError(.notFound) }
        let now = clock()
        let verdict = classifier.classify(isHead: isHead, userAgent: request.headers[.userAgent], sentAt: delivery.sentAt, now: now)
        switch kind {
        case .open:
            try await store.recordTrackingEvent(delivery: delivery.id, kind: .open, link: nil, verdict: verdict, now: now)
            log(context, kind: .open, campaign: delivery.campaign, verdict: verdict)
            var headers: HTTPFields = [.contentType: "image/gif"]
            headers[.cacheControl] = "no-store, no-cache, must-revalidate, max-age=0"
            headers[HTTPField.Name("Pragma")!] = "no-cache"
            headers[.expires] = "0"
            return Response(status: .ok, headers: headers, body: isHead ? .init() : .init(byteBuffer: ByteBuffer(bytes: Self.pixel)))
        case .click:
            guard let messages else { throw HTTPError(.notFound) }
            let (composer, recipient) = try await messages.message(of: delivery)
            let links = composer.trackableLinks(for: recipient)
            guard claim.position < links.count, tokens.verify(token, claim: claim, target: links[claim.position]) else {
                throw HTTPError(.notFound)
            }
            let target = links[claim.position]
            try await store.recordTrackingEvent(delivery: delivery.id, kind: .click, link: (claim.position, target), verdict: verdict, now: now)
            log(context, kind: .click, campaign: delivery.campaign, verdict: verdict)
            // The middleware adds Referrer-Policy: no-referrer, so the target does not
            // learn the token either.
            return Response(status: .found, headers: [.location: LinkTracking.locationValue(target)])
        case .view:
            guard let messages else { throw HTTPError(.notFound) }
            let (composer, recipient) = try await messages.message(of: delivery)
            let html: String
            if let part = composer.html(for: recipient, pixel: false) {
                html = part
            } else {
                let text = composer.template.render(composer.values(for: recipient)).text ?? ""
                html = HTMLPage(title: "Message", body: "<pre style=\"white-space:pre-wrap\">\(HTMLPage.escape(text))</pre>").html
            }
            var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
            headers[HTTPField.Name("Content-Security-Policy")!] = Self.viewPolicy
            return Response(status: .ok, headers: headers, body: isHead ? .init() : .init(byteBuffer: ByteBuffer(string: html)))
        }
    }

    /// One line per event: the campaign and the verdict, never the delivery or the address.
    private func log(_ context: BasicRequestContext, kind: TrackingEventKind, campaign: String, verdict: TrackingVerdict) {
        context.logger.info("\(kind.rawValue)", metadata: [
            "campaign": "\(campaign)", "tracking.machine": "\(verdict.isMachine)",
            "tracking.reason": "\(verdict.reason ?? "human")",
        ])
    }
}
