import Logging
import SMTP

/// Why a site takes nothing more in this pass (DESIGN.md, "Where a failure lands").
enum SiteStop: Sendable {
    /// It failed `suspendAfterFailedConnections` connections in a row: its recipients are
    /// deferred with this reason, each without an attempt of its own.
    case suspended(SuspensionReason)
    /// The sender's own setup failed on this route: its recipients are handed back
    /// untouched, and `Summary.senderFailure` says why.
    case senderFailure
}

/// What a suspended site's recipients are deferred with.
struct SuspensionReason: Sendable {
    var text: String
    var code: Int?
    var enhanced: String?
    /// The server that refused, named in `text` but not recorded as the attempt's MX host:
    /// no transaction took place, and the daily quota counts only messages a server took.
    var server: String?
}

/// One site's recent connects, as its pool's connector saw them.
struct ConnectHealth: Sendable {
    /// Connections failed since the last one that opened.
    var failedInARow = 0
    /// The error of the last connect that failed (the pool reports only text).
    var lastError: SMTPError?
    /// The site stopped for this pass: no more connects.
    var stopped = false
}

/// A connect not made because the site stopped in this pass.
struct SiteStoppedError: Error, CustomStringConvertible {
    var site: SiteKey
    var description: String { "site \(site) is stopped for this run" }
}

/// Lets one connect through at a time until one opens a session, then all of them.
actor FirstConnectGate {
    private var opened = false
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        if opened { return }
        if !busy {
            busy = true
            return
        }
        // Resumed holding the turn (or once a session has opened).
        await withCheckedContinuation { waiters.append($0) }
    }

    func leave(opened succeeded: Bool) {
        if opened { return }
        if succeeded {
            opened = true
            busy = false
            let waiting = waiters
            waiters.removeAll()
            for waiter in waiting { waiter.resume() }
        } else if !waiters.isEmpty {
            waiters.removeFirst().resume()
        } else {
            busy = false
        }
    }
}

extension DeliveryEngine {
    /// `connector` noting each connect's fate in `connectHealth` for `site`. Until one
    /// session to the site has opened, its connects go one at a time: a site that refuses
    /// every session (a 421 greeting, a login refused) sees one connection fail before the
    /// next is tried, not one per worker at once; and a site stopped meanwhile is not
    /// connected to again.
    nonisolated func watched(_ connector: @escaping SMTPConnector, site: SiteKey) -> SMTPConnector {
        let health = connectHealth
        let gate = FirstConnectGate()
        return { destination, address in
            await gate.enter()
            if health.withLockedValue({ $0[site]?.stopped ?? false }) {
                await gate.leave(opened: false)
                throw SiteStoppedError(site: site)
            }
            do {
                let connection = try await connector(destination, address)
                health.withLockedValue { $0[site, default: ConnectHealth()].failedInARow = 0 }
                await gate.leave(opened: true)
                return connection
            } catch {
                if let error = error as? SMTPError {
                    health.withLockedValue { $0[site, default: ConnectHealth()].lastError = error }
                }
                await gate.leave(opened: false)
                throw error
            }
        }
    }

    /// A session from `pool` for `group`, or nil when the site would not give one: the
    /// failure is handled at its level (`connectionFailed`), `group` settled by it, and
    /// `rest` put back (or settled too, when the site stopped).
    nonisolated func connection(from pool: SitePool, site: SiteKey, for group: [Admitted], rest: [ClaimedDelivery],
                                committer: StoreCommitter) async -> SMTPConnection? {
        do {
            return try await pool.acquire()
        } catch {
            await connectionFailed(error, site: site, group: group, committer: committer)
            await putBack(rest, site: site, committer: committer)
            return nil
        }
    }

    /// No destination of `site` gave a session. A sender failure (credentials, HELO, the
    /// relay's TLS) stops the route and hands `group` back; anything else is the site's:
    /// the reply feeds its back-off and deferral rules as a RCPT reply would, `group` is
    /// deferred, and the site is suspended once it has failed enough connections in a row.
    func connectionFailed(_ error: any Error, site: SiteKey, group: [Admitted], committer: StoreCommitter) async {
        if let poolError = error as? SitePoolError, poolError.isShutDown {
            await putBack(group.map(\.delivery), site: site, committer: committer)
            return
        }
        if stoppedSites[site] != nil {
            // Stopped while this one waited to connect: settled with the rest of the site.
            await putBack(group.map(\.delivery), site: site, committer: committer)
            return
        }
        let (failed, smtp) = connectHealth.withLockedValue { health in
            health[site, default: ConnectHealth()].failedInARow += 1
            return (health[site]!.failedInARow, (error as? SMTPError) ?? health[site]?.lastError)
        }
        if let smtp, DeliveryConnector.isSenderFailure(smtp, via: siteVia[site] ?? .mx) {
            await senderFailed(smtp, site: site, handBack: group.map(\.delivery))
            return
        }
        if let smtp, let first = group.first {
            let reaction = randomness.withLockedValue { generator in policy.withLockedValue { $0.failed(smtp, site: first.limitsSite, now: .now, using: &generator) } }
            _ = await apply(reaction.site, site: site)
        }
        let reason = SuspensionReason(text: "\(error)", code: smtp?.reply.map { Int($0.code) },
                                      enhanced: smtp?.reply?.enhancedCode?.description, server: smtp?.server)
        if failed >= settings.suspendAfterFailedConnections, stoppedSites[site] == nil {
            await suspend(site, after: failed, reason: reason, committer: committer)
        }
        for admitted in group {
            await finish(admitted.delivery, .deferred, code: reason.code, enhanced: reason.enhanced, response: reason.text,
                         mxHost: nil, messageID: nil, suppress: false, committer: committer)
        }
    }

    /// Suspends `site` for the rest of the pass: its line is deferred in one step with
    /// `reason`, its domains are left out of later claims, and what is claimed for it
    /// later is deferred at dispatch; every other site goes on.
    private func suspend(_ site: SiteKey, after failures: Int, reason: SuspensionReason, committer: StoreCommitter) async {
        let suspension = SuspensionReason(
            text: "site \(site) suspended for this run after \(failures) failed connections in a row: \(reason.text)",
            code: reason.code, enhanced: reason.enhanced, server: reason.server)
        stoppedSites[site] = .suspended(suspension)
        connectHealth.withLockedValue { $0[site, default: ConnectHealth()].stopped = true }
        excludeDomains(of: site)
        wakeSleepers(of: site)
        logger.warning("\(suspension.text)")
        await settle(drainQueue(of: site), stop: .suspended(suspension), committer: committer)
    }

    /// The sender's own setup failed on `site`'s route: the route stops once (no more
    /// connections to it), `handBack` and its whole line go back to the store unsent, its
    /// domains are left out of later claims, and `Summary.senderFailure` names the
    /// server, the command and the reply.
    func senderFailed(_ error: SMTPError, site: SiteKey, handBack: [ClaimedDelivery]) async {
        let failure = SenderFailure(server: error.server ?? "\(site)", command: error.command ?? "connect",
                                    reply: error.reply.map { $0.description.split(separator: "\n").joined(separator: " / ") }
                                        ?? error.detail ?? "\(error.code)")
        let first = stoppedSites[site] == nil
        stoppedSites[site] = .senderFailure
        connectHealth.withLockedValue { $0[site, default: ConnectHealth()].stopped = true }
        excludeDomains(of: site)
        wakeSleepers(of: site)
        recordSenderFailure(failure)
        if first { logger.error("route to \(site) stopped: \(failure)") }
        await settle(handBack + drainQueue(of: site), stop: .senderFailure, committer: nil)
    }

    /// Settles deliveries of a stopped site: deferred with the suspension's reason, or
    /// handed back after a sender failure.
    func settle(_ deliveries: [ClaimedDelivery], stop: SiteStop, committer: StoreCommitter?) async {
        guard !deliveries.isEmpty else { return }
        switch stop {
        case .suspended(let reason):
            guard let committer else { return }
            for delivery in deliveries {
                await finish(delivery, .deferred, code: reason.code, enhanced: reason.enhanced, response: reason.text,
                             mxHost: nil, messageID: nil, suppress: false, committer: committer)
            }
        case .senderFailure:
            do {
                try await store.release(deliveries.map(\.id), owner: settings.owner)
            } catch {
                // Still `claimed`: sign-off (or the next sender's recovery) hands them back.
                logger.error("handing back \(deliveries.count) deliveries: \(error)")
            }
        }
    }
}
