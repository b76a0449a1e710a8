import Foundation
import NIOCore
import SMTP

extension DeliveryEngine {
    /// Sends `batch` in order over one pooled connection at a time (a spent or broken one
    /// is swapped for another), one transaction per personalised message, or per
    /// `recipients_per_transaction` recipients when every recipient gets the same message
    /// (`sharesMessages`: rendered once per transaction, a RCPT each). Stopping, a pause
    /// of the site, or the site stopping hands the rest back.
    nonisolated func send(_ batch: [Admitted], pool: SitePool, site: SiteKey, committer: StoreCommitter) async {
        guard let first = batch.first else { return }
        let perTransaction = renderer.sharesMessages
            ? max(1, policy.withLockedValue { $0.limits.resolve(domain: first.delivery.domain, site: site).recipientsPerTransaction })
            : 1
        var connection: SMTPConnection?
        var start = 0
        while start < batch.count {
            let end = min(start + perTransaction, batch.count)
            let group = Array(batch[start..<end])
            // Stopping, or the site asked us to slow down: the rest goes back to the
            // site's line, where the policy holds it (or hands it back to the store)
            // until the pause is over.
            if halted.withLockedValue({ $0 }) || isPaused(site) {
                await putBack(batch[start...].map(\.delivery), site: site)
                break
            }
            start = end
            let message: RenderedMessage
            do {
                message = try renderer.render(group[0].delivery, smtpUTF8: false)
            } catch {
                for admitted in group {
                    await finish(admitted.delivery, .failed, code: nil, enhanced: nil, response: "could not compose the message: \(error)",
                                 mxHost: nil, messageID: nil, suppress: false, committer: committer)
                }
                continue
            }
            if connection == nil {
                connection = await self.connection(from: pool, site: site, for: group, rest: batch[end...].map(\.delivery))
            }
            guard let open = connection else { return }
            // The rates every sender of the store shares, taken once the session is ready,
            // just before the envelope goes: sends taken before a connection opened would
            // reach the server later, beside sends taken after them, and together exceed
            // the rate. A long wait hands the rest back to the store for a later run,
            // leaving the domain alone meanwhile.
            guard await takeSharedSends(group.count, for: group[0], poolSite: site) else {
                await handBackForLater(Array(batch[(end - group.count)...].map(\.delivery)))
                break
            }
            let goOn = await transact(group, message: message, on: open, site: site, committer: committer)
            if !open.isUsable || open.transactionCount >= pool.messagesPerConnection {
                await pool.release(open)
                connection = nil
            }
            if !goOn {
                await putBack(batch[end...].map(\.delivery), site: site)
                break
            }
        }
        if let connection { await pool.release(connection) }
    }

    /// One transaction for `group` on `connection`, and the outcome of each of its
    /// recipients; false when the rest of the batch must not follow on this site now
    /// (the site paused, or the route stopped).
    ///
    /// The group is marked `sending` while its envelope is on the wire: after the
    /// server's 354 the content waits until the mark is committed, in the same commit as
    /// the outcome of the connection's previous transaction. A crash leaves at most the
    /// one transaction of each connection in doubt (`unknown`), and the commit costs the
    /// connection no round trip of its own. When the store took one of the group back
    /// (the campaign was cancelled), the content is withheld and nothing is sent.
    nonisolated func transact(_ group: [Admitted], message: RenderedMessage, on connection: SMTPConnection, site: SiteKey,
                              committer: StoreCommitter) async -> Bool {
        let ids = group.map(\.delivery.id)
        let recipients = renderer.sharesMessages
            ? group.map { renderer.envelopeRecipient($0.delivery, smtpUTF8: false) }
            : [message.envelopeTo]
        let transaction = SMTPTransaction(mailFrom: message.envelopeFrom, recipients: recipients, message: message.bytes, smtpUTF8: false)
        let marking = committer.mark(ids, on: connection.eventLoop)
        do {
            let result = try await connection.send(transaction, release: marking.map { Set(ids).isSubset(of: $0) })
            return await recordReplies(result, group: group, site: site, server: connection.server, messageID: message.messageID,
                                       marking: marking, committer: committer, session: connection)
        } catch let error as SMTPError where error.code == .contentWithheld {
            // Nothing of the message was sent. Those the store took back are its
            // business; the ones it marked go again later.
            do {
                let marked = try await marking.get()
                for admitted in group where marked.contains(admitted.delivery.id) {
                    await finish(admitted.delivery, .deferred, code: nil, enhanced: nil,
                                 response: "not sent: part of the transaction was taken back by the store",
                                 mxHost: connection.server, messageID: nil, suppress: false, committer: committer)
                }
            } catch {
                // Not marked: they stay `claimed`, to be handed back at sign-off.
                logger.error("marking \(ids.count) deliveries sending: \(error)")
            }
            return true
        } catch let error as SMTPError {
            return await transactionFailed(error, group: group, site: site, messageID: message.messageID,
                                           marking: marking, committer: committer, session: connection)
        } catch {
            logger.error("transaction for \(group.count) recipients: \(error)")
            return true
        }
    }

    /// Records each recipient's reply; a reply that is about the sender's own setup (a
    /// HELO name refused at RCPT) stops the route instead of bouncing anyone.
    private nonisolated func recordReplies(_ result: SMTPTransactionResult, group: [Admitted], site: SiteKey, server: String,
                                           messageID: String, marking: EventLoopFuture<Set<Int64>>,
                                           committer: StoreCommitter, session: SMTPConnection?) async -> Bool {
        var goOn = true
        var senderFault: (SMTPReply, [ClaimedDelivery])?
        for (admitted, outcome) in zip(group, result.recipients) {
            if outcome.status != .accepted, ReplyClassification.isSenderFault(outcome.reply) {
                senderFault = (outcome.reply, (senderFault?.1 ?? []) + [admitted.delivery])
                continue
            }
            if await handle(outcome, delivery: admitted.delivery, site: admitted.limitsSite, poolSite: site,
                            server: server, messageID: messageID, committer: committer, session: session) {
                goOn = false
            }
        }
        if let (reply, deliveries) = senderFault {
            let error = SMTPError(.unexpectedReply, command: "RCPT TO", reply: reply, server: server)
            await senderFailedInTransaction(error, deliveries: deliveries, site: site, marking: marking, committer: committer)
            goOn = false
        }
        return goOn
    }

    /// A transaction failed as a whole. A sender failure stops the route; a connection
    /// failure (the connection is dropped) leaves the group in doubt (`unknown`) when its
    /// content may have reached the server and deferred otherwise, never bounced; a
    /// site's or a message's failure is classified by its reply. False when the site
    /// paused or the route stopped.
    private nonisolated func transactionFailed(_ error: SMTPError, group: [Admitted], site: SiteKey, messageID: String,
                                               marking: EventLoopFuture<Set<Int64>>, committer: StoreCommitter,
                                               session: SMTPConnection?) async -> Bool {
        if DeliveryConnector.isSenderFailure(error, via: await via(of: site)) {
            await senderFailedInTransaction(error, deliveries: group.map(\.delivery), site: site, marking: marking, committer: committer)
            return false
        }
        var paused = false
        for admitted in group {
            var generator = randomness
            let reaction = policy.withLockedValue { $0.failed(error, site: admitted.limitsSite, now: clock.now, using: &generator) }
            if await apply(reaction.site, site: site) { paused = true }
            var state = reaction.classification.disposition.state
            var suppress = reaction.classification.suppressesAddress
            if error.scope == .connection {
                state = Self.mayHaveReachedServer(error) ? .unknown : .deferred
                suppress = false
            }
            await finish(admitted.delivery, state, code: error.reply.map { Int($0.code) },
                         enhanced: error.reply?.enhancedCode?.description, response: "\(error)", mxHost: error.server,
                         messageID: messageID, suppress: suppress, committer: committer, session: session)
        }
        return !paused
    }

    /// Whether a connection lost with `error` may have delivered the content: the
    /// session failed after the content went out.
    static func mayHaveReachedServer(_ error: SMTPError) -> Bool {
        error.code == .connectionClosedAfterData
    }

    /// A sender failure met inside a transaction (RCPT replies, or an error): the route
    /// stops. Deliveries not yet marked go back to the store; ones already marked
    /// `sending` (nothing of their message was sent) cannot be released, and are deferred
    /// due at once, so the next run takes them as soon as the setup is fixed.
    private nonisolated func senderFailedInTransaction(_ error: SMTPError, deliveries: [ClaimedDelivery], site: SiteKey,
                                                       marking: EventLoopFuture<Set<Int64>>, committer: StoreCommitter) async {
        let marked = (try? await marking.get()) ?? []
        let unmarked = deliveries.filter { !marked.contains($0.id) }
        await senderFailed(error, site: site, handBack: unmarked)
        for delivery in deliveries where marked.contains(delivery.id) {
            await finish(delivery, .deferred, code: error.reply.map { Int($0.code) }, enhanced: error.reply?.enhancedCode?.description,
                         response: "not sent, the sender's setup failed: \(error)", mxHost: error.server, messageID: nil,
                         suppress: false, committer: committer, retryAt: clock.date())
        }
    }

    private func via(of site: SiteKey) -> Route.Via {
        machine.siteVia[site] ?? .mx
    }

    /// Records one recipient's outcome; true when the reply paused the site.
    @discardableResult
    nonisolated func handle(_ outcome: SMTPRecipientOutcome, delivery: ClaimedDelivery, site: SiteKey, poolSite: SiteKey,
                            server: String, messageID: String, committer: StoreCommitter, session: SMTPConnection?) async -> Bool {
        let stage: ReplyClassification.Stage = outcome.status == .accepted ? .data : .recipient
        var generator = randomness
        let reaction = policy.withLockedValue { $0.replied(outcome.reply, stage: stage, site: site, now: clock.now, using: &generator) }
        let paused = await apply(reaction.site, site: poolSite)
        await finish(delivery, reaction.classification.disposition.state, code: Int(outcome.reply.code),
                     enhanced: outcome.reply.enhancedCode?.description, response: outcome.reply.text,
                     mxHost: server, messageID: messageID, suppress: reaction.classification.suppressesAddress,
                     committer: committer, session: session)
        return paused
    }
}

extension DeliveryEngine {
    /// Whether a transaction for `count` recipients like `admitted` (its domain, its
    /// limits' site and the rates its admission resolved) may go, as far as the rates
    /// every sender of the store shares are concerned (`SharedLimits`): the
    /// sends come from the store's `global`, `site:…` and `domain:…` buckets whose rate is
    /// configured, taken just before use, waiting for the store's `retryAt` when it says
    /// so. False when the store asks for a longer wait than `longestWait` (or the engine
    /// is stopping): the sends already taken stay banked for a later message.
    nonisolated func takeSharedSends(_ count: Int, for admitted: Admitted, poolSite: SiteKey) async -> Bool {
        let global = policy.withLockedValue { $0.limits.global.rate }
        var keys: [(String, Rate)] = []
        if let global { keys.append(("global", global)) }
        if let rate = admitted.siteRate { keys.append(("site:\(admitted.limitsSite)", rate)) }
        if let rate = admitted.domainRate { keys.append(("domain:\(SiteKey.normalize(admitted.delivery.domain))", rate)) }
        var taken: [(String, Int)] = []
        func giveBack() { for (key, sends) in taken { sharedSends.deposit(key, sends) } }
        for (key, rate) in keys {
            var missing = sharedSends.withdraw(key, count)
            // Bounded: each round waits for the store's `retryAt`, at most `longestWait`.
            var rounds = 0
            while missing > 0 {
                let grant: SendGrant
                do {
                    grant = try await store.takeSends(key, count: missing, rate: rate, now: clock.date())
                } catch {
                    logger.error("taking \(missing) sends of \(key) from the store: \(error)")
                    sharedSends.deposit(key, count - missing)
                    giveBack()
                    return false
                }
                missing -= min(missing, grant.granted)
                guard missing > 0 else { break }
                let wait = max(0, grant.retryAt.map { $0.timeIntervalSince(clock.date()) } ?? 0)
                rounds += 1
                if halted.withLockedValue({ $0 }) || Duration.seconds(wait) > settings.longestWait || rounds > 1000 {
                    sharedSends.deposit(key, count - missing)
                    giveBack()
                    return false
                }
                await sleep(until: clock.now + .milliseconds(Int(max(1, wait * 1000))), site: poolSite)
            }
            taken.append((key, count))
        }
        return true
    }
}
