import Delivery
import Foundation
import SMTP

/// Sends the notices waiting in the store, as real mail over the delivery the
/// configuration describes: the same router (routes, relay, MX), the engine's
/// `DeliveryConnector` (EHLO name, TLS policy with the providers' TLS-required presets,
/// relay credentials) and a `SitePool` for backup MX hosts, but
/// not the deliveries table, whose rows belong to a list's recipients.
///
/// A notice that cannot be sent never fails the send that carried it: it stays pending,
/// comes back as a warning, and the next `salvo send` or `salvo run` tries again. The
/// store's claim keeps two senders from sending one notice, and a server's acceptance is
/// recorded at once, so a notice is not sent twice.
public struct NoticeSender: Sendable {
    private let store: any NoticeStore
    private let configuration: SalvoConfiguration
    private let environment: [String: String]
    private let timeouts: SMTPTimeouts

    /// What one round did, in lines for the user.
    public struct Report: Sendable, Equatable {
        /// "failure summary of 'spring' sent to ops@shop.example".
        public var sent: [String] = []
        /// "failure summary of 'spring' to ops@shop.example not sent: …; …".
        public var warnings: [String] = []
        public init() {}
    }

    /// - Parameter timeouts: for each step of the session; a notice is small, so a
    ///   minute each rather than RFC 5321's ten minutes for the final reply.
    public init(store: any NoticeStore, configuration: SalvoConfiguration,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                timeouts: SMTPTimeouts? = nil) {
        self.store = store
        self.configuration = configuration
        self.environment = environment
        self.timeouts = timeouts ?? .uniform(.seconds(60))
    }

    /// Renders and sends every notice due now.
    public func sendPending(now: Date = Date()) async -> Report {
        var report = Report()
        let owner = "notices:\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8))"
        let claimed: [Notice]
        do {
            claimed = try await store.claimNotices(owner: owner, now: now)
        } catch {
            report.warnings.append("notices not sent: \(error)")
            return report
        }
        guard !claimed.isEmpty else { return report }
        let router = configuration.router()
        for notice in claimed {
            let name = await describe(notice)
            let outcome: Outcome
            do {
                let rendered = try await render(notice, now: now)
                outcome = await send(rendered, router: router)
                switch outcome {
                case .sent:
                    try await store.noticeSent(id: notice.id, owner: owner, note: nil, now: Date())
                    report.sent.append("\(name) sent to \(rendered.rcptTo)")
                case .inDoubt(let why):
                    // Possibly delivered: marked sent, so it is never sent twice.
                    try await store.noticeSent(id: notice.id, owner: owner, note: "in doubt: \(why)", now: Date())
                    report.warnings.append("\(name) to \(rendered.rcptTo) may not have arrived (not sent again): \(why)")
                case .failed(let why, let permanent):
                    let state = try await store.noticeFailed(id: notice.id, owner: owner, error: why, permanent: permanent)
                    report.warnings.append("\(name) to \(rendered.rcptTo) not sent: \(why); "
                        + (state == .failed ? "given up" : "the next salvo send or salvo run tries again"))
                }
            } catch {
                let state = try? await store.noticeFailed(id: notice.id, owner: owner, error: "\(error)", permanent: false)
                report.warnings.append("\(name) not sent: \(error); "
                    + (state == .failed ? "given up" : "the next salvo send or salvo run tries again"))
            }
        }
        return report
    }

    enum Outcome {
        case sent
        case inDoubt(String)
        case failed(String, permanent: Bool)
    }

    private func describe(_ notice: Notice) async -> String {
        var campaign: String?
        if let id = notice.campaignID { campaign = try? await store.campaignName(id: id) }
        return notice.kind.label + (campaign.map { " of '\($0)'" } ?? "")
    }

    /// The stored message, or a new rendering kept for the next attempts.
    private func render(_ notice: Notice, now: Date) async throws -> RenderedNotice {
        if let bytes = notice.message, let from = notice.mailFrom, let to = notice.rcptTo {
            return RenderedNotice(mailFrom: from, rcptTo: to, messageID: notice.messageID ?? "", bytes: bytes)
        }
        guard let campaignID = notice.campaignID else { throw NoticeError.noCampaign(notice.key) }
        let name = try await store.campaignName(id: campaignID)
        let (definition, _) = try await store.campaign(named: name)
        let content: NoticeComposer.Content
        switch notice.kind {
        case .failureSummary:
            content = NoticeComposer.failureSummary(try await store.failureSummary(campaign: campaignID, top: 5))
        case .quota80, .quota100:
            let facts = try JSONDecoder().decode(QuotaNoticeFacts.self, from: Data(notice.detail.utf8))
            let counts = try await store.deliveryCounts(campaign: name)
            let waiting = counts[.pending] + counts[.claimed] + counts[.deferred]
            content = NoticeComposer.quota(notice.kind, facts: facts, campaign: name, waiting: waiting)
        }
        var generator = SystemRandomNumberGenerator()
        let rendered = try NoticeComposer(signers: try configuration.dkimSigners())
            .render(content, definition: definition, date: now, using: &generator)
        try await store.saveNoticeMessage(id: notice.id, mailFrom: rendered.mailFrom, rcptTo: rendered.rcptTo,
                                    messageID: rendered.messageID, message: rendered.bytes)
        return rendered
    }

    /// One transaction to wherever the recipient's domain routes (also how a test send
    /// reaches its seed address: `TestSend`).
    func send(_ notice: RenderedNotice, router: Router) async -> Outcome {
        let domain = String(notice.rcptTo[notice.rcptTo.index(after: notice.rcptTo.lastIndex(of: "@")!)...])
        let route = await router.route(domain)
        let siteName: String, destinations: [Destination], via: Route.Via
        switch route {
        case .bounce(let reason): return .failed(reason, permanent: true)
        case .deferral(let reason): return .failed(reason, permanent: false)
        case .deliver(let site, let found, let how): (siteName, destinations, via) = (site, found, how)
        }
        // The engine's connector: the same sessions, TLS policy and provider presets
        // (a site whose limits require TLS gets no clear-text fallback), from the site's
        // first source address when its limits give it some.
        let connector: SMTPConnector
        do {
            let sessions = DeliveryConnector(mx: configuration.mxSession(), relay: try configuration.relaySession(environment: environment),
                                             timeouts: timeouts)
            let site = DeliveryConnector.site(of: siteName, destinations: destinations)
            let limits = try configuration.deliveryPolicy().limits.resolve(domain: domain, site: site)
            connector = sessions.connector(via: via, requireTLS: limits.requireTLS, sourceAddress: limits.sourceAddresses.first)
        } catch {
            return .failed("\(error)", permanent: false)
        }
        let pool = SitePool(site: siteName, destinations: destinations, maxConnections: 1, messagesPerConnection: 1,
                            connector: connector)
        let transaction = SMTPTransaction(mailFrom: notice.mailFrom, recipients: [notice.rcptTo], message: notice.bytes)
        do {
            let result: SMTPTransactionResult
            do {
                result = try await pool.withConnection { try await $0.send(transaction) }
                await pool.shutdown()
            } catch {
                await pool.shutdown()
                throw error
            }
            guard let outcome = result.recipients.first else { return .failed("no reply for the recipient", permanent: false) }
            let reply = "\(outcome.reply.code)\(outcome.reply.enhancedCode.map { " \($0)" } ?? "") \(outcome.reply.text)"
            switch outcome.status {
            case .accepted: return .sent
            case .temporaryFailure: return .failed(reply, permanent: false)
            case .permanentFailure: return .failed(reply, permanent: true)
            }
        } catch let error as SMTPError where error.code == .connectionClosedAfterData {
            return .inDoubt("\(error)")
        } catch {
            return .failed("\(error)", permanent: false)
        }
    }
}

/// A notice that cannot be rendered.
enum NoticeError: Error, CustomStringConvertible {
    case noCampaign(String)

    var description: String {
        switch self {
        case .noCampaign(let key): "notice \(key) names no campaign whose sender could be told"
        }
    }
}
