import Logging
import SMTP

/// Why a site takes nothing more in this pass (DESIGN.md, "Where a failure lands").
enum SiteStop: Sendable, Equatable {
    /// It failed `suspendAfterFailedConnections` connections in a row: its recipients are
    /// deferred with this reason, each without an attempt of its own.
    case suspended(SuspensionReason)
    /// The sender's own setup failed on this route: its recipients are handed back
    /// untouched, and `Summary.senderFailure` says why.
    case senderFailure
}

/// What a site's failed connection defers its recipients with. No server is recorded as
/// the attempt's MX host: no transaction took place, and the daily quota counts only
/// messages a server took (the text names the server that refused).
struct SuspensionReason: Sendable, Equatable {
    var text: String
    var code: Int?
    var enhanced: String?
}

/// One site's recent connects, as its pool's connector saw them.
struct ConnectHealth: Sendable {
    /// Connections failed since the last one that opened.
    var failedInARow = 0
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
    /// `connector` resetting `site`'s failed connections in `connectHealth` when a session
    /// opens. Until one session to the site has opened, its connects go one at a time: a
    /// site that refuses every session (a 421 greeting, a login refused) sees one
    /// connection fail before the next is tried, not one per worker at once; and a site
    /// stopped meanwhile is not connected to again. The lanes of one site's pool share
    /// `gate`: the site is one destination, whichever address a session comes from.
    nonisolated func watched(_ connector: @escaping SMTPConnector, site: SiteKey, gate: FirstConnectGate) -> SMTPConnector {
        let health = connectHealth
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
                await gate.leave(opened: false)
                throw error
            }
        }
    }

    /// A session from `pool` for `group`, or nil when the site would not give one: the
    /// failure is handled at its level (`connectionFailed`), `group` settled by it, and
    /// `rest` put back (or settled too, when the site stopped).
    nonisolated func connection(from pool: SitePool, site: SiteKey, for group: [Admitted], rest: [ClaimedDelivery]) async -> SMTPConnection? {
        do {
            return try await pool.acquire()
        } catch {
            await connectionFailed(error, site: site, group: group)
            await putBack(rest, site: site)
            return nil
        }
    }

    /// No destination of `site` gave a session. A sender failure (credentials, HELO, the
    /// relay's TLS) stops the route and hands `group` back; anything else is the site's:
    /// the reply feeds its back-off and deferral rules as a RCPT reply would, `group` is
    /// deferred, and the site is suspended once it has failed enough connections in a row.
    func connectionFailed(_ error: any Error, site: SiteKey, group: [Admitted]) async {
        if let poolError = error as? SitePoolError, poolError.isShutDown {
            await putBack(group.map(\.delivery), site: site)
            return
        }
        if machine.stoppedSites[site] != nil {
            // Stopped while this one waited to connect: settled with the rest of the site.
            await putBack(group.map(\.delivery), site: site)
            return
        }
        let failed = connectHealth.withLockedValue { health in
            health[site, default: ConnectHealth()].failedInARow += 1
            return health[site]!.failedInARow
        }
        let smtp = error as? SMTPError
        if let smtp, DeliveryConnector.isSenderFailure(smtp, via: machine.siteVia[site] ?? .mx) {
            await senderFailed(smtp, site: site, handBack: group.map(\.delivery))
            return
        }
        if let smtp, let first = group.first {
            let now = clock.now
            var generator = randomness
            let reaction = policy.withLockedValue { $0.failed(smtp, site: first.limitsSite, now: now, using: &generator) }
            _ = await apply(reaction.site, site: site)
        }
        let reason = SuspensionReason(text: "\(error)", code: smtp?.reply.map { Int($0.code) },
                                      enhanced: smtp?.reply?.enhancedCode?.description)
        await perform(machine.connectionFailed(site: site, reason: reason, failedInARow: failed, group: group.map(\.delivery)))
    }

    /// The sender's own setup failed on `site`'s route: the route stops once (no more
    /// connections to it), `handBack` and its whole line go back to the store unsent, its
    /// domains are left out of later claims, and `Summary.senderFailure` names the
    /// server, the command and the reply.
    func senderFailed(_ error: SMTPError, site: SiteKey, handBack: [ClaimedDelivery]) async {
        let failure = SenderFailure(server: error.server ?? "\(site)", command: error.command ?? "connect",
                                    reply: error.reply.map { $0.description.split(separator: "\n").joined(separator: " / ") }
                                        ?? error.detail ?? "\(error.code)")
        recordSenderFailure(failure)
        await perform(machine.senderFailed(site: site, handBack: handBack, failure: "\(failure)"))
    }
}
