import Campaigns
import Delivery
import Foundation
import PostgresNIO

/// The notices on PostgreSQL (`NoticeStore`): a campaign's failure summary is queued in
/// the transaction that finishes it, and any host's `salvo send` or `salvo run` sends what
/// is waiting; the claim (a row update, its attempt counted) keeps two hosts from sending
/// one notice, as on SQLite.
///
/// Every call waits out an outage of the server as the engine's do (`enduring`): each is
/// the same when made twice, and a claim made again after its reply was lost takes back
/// what the lost one took for this owner.
extension PostgresDeliveryStore: NoticeStore {
    public func claimNotices(owner: String, now: Date) async throws -> [Notice] {
        let now = Self.seconds(now)
        return try await enduring("claimNotices") { [self] retry in try await transaction("claimNotices") { connection in
            try await connection.query("""
                UPDATE notices SET state = 'sending', claimed_by = \(owner), claimed_at = \(now), attempts = attempts + 1
                WHERE state = 'pending' OR (state = 'sending' AND claimed_at < \(now - Int64(SalvoStore.noticeLease)))
                   OR (\(retry) AND state = 'sending' AND claimed_by = \(owner))
                RETURNING id, key, kind, campaign_id, detail, state, mail_from, rcpt_to, message_id, message, attempts,
                          last_error, created_at, sent_at
                """, logger: logger).decode(
                    (Int64, String, String, Int64?, String, String, String?, String?, String?, ByteBuffer?, Int64,
                     String?, Int64, Int64?).self).collected()
                .map { id, key, kind, campaign, detail, state, from, to, messageID, message, attempts, error, created, sent in
                    Notice(id: id, key: key, kind: Notice.Kind(rawValue: kind) ?? .failureSummary, campaignID: campaign,
                           detail: detail, state: Notice.State(rawValue: state) ?? .pending, mailFrom: from, rcptTo: to,
                           messageID: messageID, message: message.map { Array($0.readableBytesView) }, attempts: Int(attempts),
                           lastError: error, createdAt: Self.date(created), sentAt: sent.map(Self.date))
                }
                .sorted { $0.id < $1.id }
        } }
    }

    public func saveNoticeMessage(id: Int64, mailFrom: String, rcptTo: String, messageID: String, message: [UInt8]) async throws {
        try await enduringRead("saveNoticeMessage") { [self] in
            _ = try await client.query("""
                UPDATE notices SET mail_from = \(mailFrom), rcpt_to = \(rcptTo), message_id = \(messageID),
                    message = \(ByteBuffer(bytes: message)) WHERE id = \(id) AND message IS NULL
                """, logger: logger)
        }
    }

    public func noticeSent(id: Int64, owner: String, note: String?, now: Date) async throws {
        try await enduringRead("noticeSent") { [self] in
            _ = try await client.query("""
                UPDATE notices SET state = 'sent', sent_at = \(Self.seconds(now)), last_error = \(note), claimed_by = NULL,
                    claimed_at = NULL
                WHERE id = \(id) AND claimed_by = \(owner)
                """, logger: logger)
        }
    }

    public func noticeFailed(id: Int64, owner: String, error: String, permanent: Bool) async throws -> Notice.State {
        try await enduringTransaction("noticeFailed") { [self] connection in
            try await connection.query("""
                UPDATE notices SET state = CASE WHEN \(permanent) OR attempts >= \(SalvoStore.noticeMaxAttempts) THEN 'failed'
                                                ELSE 'pending' END,
                    last_error = \(error), claimed_by = NULL, claimed_at = NULL
                WHERE id = \(id) AND claimed_by = \(owner)
                """, logger: logger)
            let state = try await connection.query("SELECT state FROM notices WHERE id = \(id)", logger: logger)
                .decode(String.self).collected().first
            return state.flatMap(Notice.State.init(rawValue:)) ?? .pending
        }
    }

    public func campaignName(id: Int64) async throws -> String {
        try await enduringRead("campaignName") { [self] in
            guard let name = try await client.query("SELECT name FROM campaigns WHERE id = \(id)", logger: logger)
                .decode(String.self).collected().first else { throw DeliveryStoreError.campaignNotFound(id) }
            return name
        }
    }

    public func campaign(named name: String) async throws -> (definition: CampaignDefinition, sourcePath: String) {
        try await enduringRead("campaign") { [self] in
            guard let (json, sourcePath) = try await withConnection("campaign", { connection in
                try await connection.query("SELECT definition, source_path FROM campaigns WHERE name = \(name)", logger: logger)
                    .decode((String, String).self).collected().first
            }) else { throw StoreError.campaignNotFound(name) }
            return (try JSONDecoder().decode(CampaignDefinition.self, from: Data(json.utf8)), sourcePath)
        }
    }

    public func failureSummary(campaign id: Int64, top: Int) async throws -> FailureSummary {
        try await enduringRead("failureSummary") { [self] in
            try await client.withConnection { connection in
                guard let name = try await connection.query("SELECT name FROM campaigns WHERE id = \(id)", logger: logger)
                    .decode(String.self).collected().first else { throw DeliveryStoreError.campaignNotFound(id) }
                let reasons = try await connection.query("""
                    SELECT reason, count(*) AS n FROM (
                        SELECT btrim(COALESCE(last_code || ' ', '') || COALESCE(last_enhanced_code || ' ', '')
                                     || COALESCE(last_response, state)) AS reason
                        FROM deliveries WHERE campaign_id = \(id) AND state IN ('bounced', 'failed', 'unknown')) f
                    GROUP BY reason ORDER BY n DESC, reason COLLATE "C" LIMIT \(top)
                    """, logger: logger).decode((String, Int64).self).collected().map { (reason: $0.0, count: Int($0.1)) }
                let domains = try await connection.query("""
                    SELECT domain, count(*) AS n FROM deliveries
                    WHERE campaign_id = \(id) AND state IN ('bounced', 'failed', 'unknown')
                    GROUP BY domain ORDER BY n DESC, domain COLLATE "C" LIMIT \(top)
                    """, logger: logger).decode((String, Int64).self).collected().map { (domain: $0.0, count: Int($0.1)) }
                return FailureSummary(campaign: name, counts: try await Self.counts(campaign: id, on: connection, logger: logger),
                                      topReasons: reasons, topDomains: domains)
            }
        }
    }

    public func deliveryCounts(campaign name: String) async throws -> DeliveryCounts {
        try await enduringRead("deliveryCounts") { [self] in
            try await client.withConnection { connection in
                let id = try await Self.campaignID(named: name, on: connection, logger: logger)
                return try await Self.counts(campaign: id, on: connection, logger: logger)
            }
        }
    }

    /// Queues the campaign's failure summary when any recipient ended failed, bounced or
    /// unknown: in the transaction that finishes it, so it is queued once, whichever host
    /// finished it.
    static func queueFailureSummary(campaign: Int64, now: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let key = "\(Notice.Kind.failureSummary.rawValue):\(campaign)"
        try await connection.query("""
            INSERT INTO notices (key, kind, campaign_id, detail, created_at)
            SELECT \(key), \(Notice.Kind.failureSummary.rawValue), \(campaign), '{}', \(now)
            WHERE EXISTS (SELECT 1 FROM deliveries WHERE campaign_id = \(campaign) AND state IN ('failed', 'bounced', 'unknown'))
            ON CONFLICT (key) DO NOTHING
            """, logger: logger)
    }
}

/// `salvo send CAMPAIGN --test-to SEED` on PostgreSQL: each seed's outcome is kept in
/// `test_sends`, apart from the campaign's deliveries, as on SQLite.
extension PostgresDeliveryStore: TestSendStore {
    public func recordTestSend(campaign name: String, recipient: String, result: TestSend.Result, at time: Date) async throws {
        try await described("recordTestSend") {
            let inserted = try await client.query("""
                INSERT INTO test_sends (campaign_id, recipient, seed, message_id, outcome, reply, sent_at)
                SELECT id, \(recipient), \(result.seed), \(result.messageID), \(result.outcome.rawValue), \(result.detail),
                       \(Self.seconds(time))
                FROM campaigns WHERE name = \(name) RETURNING id
                """, logger: logger).decode(Int64.self).collected()
            if inserted.isEmpty { throw StoreError.campaignNotFound(name) }
        }
    }
}
