import SMTP

extension DeliveryEngine {
    /// Sends `batch` when every recipient gets the same message (`sharesMessages`): one
    /// transaction per `recipients_per_transaction` recipients, a RCPT each, the message
    /// rendered once per transaction, each recipient's outcome recorded from its own RCPT
    /// reply and the reply to the message.
    ///
    /// A transaction's recipients are marked `sending` together before its DATA, so a
    /// crash leaves at most one transaction's recipients of a connection `unknown`.
    nonisolated func sendShared(_ batch: [Admitted], pool: SitePool, site: SiteKey,
                                committer: StoreCommitter) async {
        guard let first = batch.first else { return }
        let perTransaction = max(1, policy.withLockedValue { $0.limits.resolve(domain: first.delivery.domain, site: site).recipientsPerTransaction })
        var connection: SMTPConnection?
        var start = 0
        while start < batch.count {
            let end = min(start + perTransaction, batch.count)
            let group = Array(batch[start..<end])
            defer { start = end }
            if halted.withLockedValue({ $0 }) || isPaused(site) {
                await putBack(batch[start...].map(\.delivery), site: site)
                break
            }
            if connection == nil {
                connection = await self.connection(from: pool, orDefer: group.map(\.delivery), committer: committer)
            }
            guard let open = connection else { continue }
            let members: [Admitted]
            do {
                let marked = try await committer.mark(group.map(\.delivery.id))
                // One missing was taken back by the store (the campaign was cancelled).
                members = group.filter { marked.contains($0.delivery.id) }
            } catch {
                // Not marked: they stay `claimed` and are handed back at sign-off.
                logger.error("marking \(group.count) deliveries sending: \(error)")
                continue
            }
            guard let lead = members.first else { continue }
            let message: RenderedMessage
            do {
                message = try renderer.render(lead.delivery, smtpUTF8: false)
            } catch {
                for admitted in members {
                    await finish(admitted.delivery, .failed, code: nil, enhanced: nil, response: "could not compose the message: \(error)",
                                 mxHost: nil, messageID: nil, suppress: false, committer: committer)
                }
                continue
            }
            let transaction = SMTPTransaction(
                mailFrom: message.envelopeFrom,
                recipients: members.map { renderer.envelopeRecipient($0.delivery, smtpUTF8: false) },
                message: message.bytes, smtpUTF8: false)
            var paused = false
            do {
                let result = try await open.send(transaction)
                for (admitted, outcome) in zip(members, result.recipients) {
                    if await handle(outcome, delivery: admitted.delivery, site: admitted.limitsSite, poolSite: site,
                                    server: open.server, messageID: message.messageID, committer: committer) {
                        paused = true
                    }
                }
            } catch let error as SMTPError {
                for admitted in members {
                    if await failed(error, delivery: admitted.delivery, site: admitted.limitsSite, poolSite: site,
                                    messageID: message.messageID, committer: committer) {
                        paused = true
                    }
                }
            } catch {
                logger.error("transaction for \(members.count) recipients: \(error)")
            }
            if !open.isUsable || open.transactionCount >= pool.messagesPerConnection {
                await pool.release(open)
                connection = nil
            }
            if paused, end < batch.count {
                await putBack(batch[end...].map(\.delivery), site: site)
                break
            }
        }
        if let connection { await pool.release(connection) }
    }
}
