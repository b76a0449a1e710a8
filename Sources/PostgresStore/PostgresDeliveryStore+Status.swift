import Campaigns
import Delivery
import Foundation
import PostgresNIO

/// `salvo status` on PostgreSQL: the same figures as on SQLite, from the same tables.
/// Text sorts byte by byte (`COLLATE "C"`, SQLite's BINARY), so ties come out in the same
/// order on both stores.
extension PostgresDeliveryStore: CampaignStatusStore {
    public func statusReport(campaign name: String) async throws -> CampaignStatusReport {
        try await described("statusReport") {
            try await client.withConnection { connection in
                try await statusReport(campaign: name, on: connection)
            }
        }
    }

    private func statusReport(campaign name: String, on connection: PostgresConnection) async throws -> CampaignStatusReport {
        let rows = try await connection.query("""
            SELECT id, state, state_reason, scheduled_at, started_at, finished_at,
                   (SELECT min(next_attempt_at) FROM deliveries d WHERE d.campaign_id = campaigns.id AND d.state = 'deferred'),
                   list_id, segment
            FROM campaigns WHERE name = \(name)
            """, logger: logger).decode((Int64, String, String?, Int64?, Int64?, Int64?, Int64?, Int64, String?).self).collected()
        guard let (campaign, state, reason, scheduledAt, startedAt, finishedAt, nextRetry, list, segment) = rows.first else {
            throw StoreError.campaignNotFound(name)
        }
        let domains = try await connection.query("""
            SELECT domain, count(*) AS n FROM deliveries WHERE campaign_id = \(campaign)
            GROUP BY domain ORDER BY n DESC, domain COLLATE "C" LIMIT 5
            """, logger: logger).decode((String, Int64).self).collected().map { (domain: $0.0, count: Int($0.1)) }
        let replies = try await connection.query("""
            SELECT last_code::text || COALESCE(' ' || last_enhanced_code, '') AS reply, count(*) AS n FROM deliveries
            WHERE campaign_id = \(campaign) AND last_code IS NOT NULL
            GROUP BY reply ORDER BY n DESC, (last_code::text || COALESCE(' ' || last_enhanced_code, '')) COLLATE "C" LIMIT 5
            """, logger: logger).decode((String, Int64).self).collected().map { (reply: $0.0, count: Int($0.1)) }
        let complaints = try await connection.query("""
            SELECT count(DISTINCT e.delivery_id) FROM bounce_events e JOIN deliveries d ON d.id = e.delivery_id
            WHERE d.campaign_id = \(campaign) AND e.kind = 'complaint'
            """, logger: logger).decode(Int64.self).collected().first ?? 0
        let status = CampaignStatus(name: name, state: state, reason: reason,
                                    counts: try await Self.counts(campaign: campaign, on: connection, logger: logger),
                                    topDomains: domains, topReplies: replies, complaints: Int(complaints))
        var suppressedBy: [SuppressionScope: Int] = [:]
        for (scope, count) in try await connection.query("""
            SELECT suppressed_by, count(*) FROM deliveries
            WHERE campaign_id = \(campaign) AND state = 'suppressed' AND suppressed_by IS NOT NULL GROUP BY suppressed_by
            """, logger: logger).decode((String, Int64).self).collected() {
            if let scope = SuppressionScope(rawValue: scope) { suppressedBy[scope] = Int(count) }
        }
        var unsubscribes: [UnsubscribeChannel: Int] = [:]
        for (channel, count) in try await connection.query("""
            SELECT channel, count(*) FROM unsubscribes WHERE campaign = \(name) AND undone_at IS NULL GROUP BY channel
            """, logger: logger).decode((String, Int64).self).collected() {
            if let channel = UnsubscribeChannel(rawValue: channel) { unsubscribes[channel] = Int(count) }
        }
        // Unique deliveries opened or clicked, by a person at least once, or by machines only.
        var tracking: [TrackingEventKind: TrackingCounts] = [:]
        for (kind, human, machineOnly) in try await connection.query("""
            SELECT kind, sum(human)::bigint, sum(1 - human)::bigint FROM (
                SELECT e.kind, e.delivery_id, max(CASE WHEN e.machine THEN 0 ELSE 1 END) AS human
                FROM tracking_events e JOIN deliveries d ON d.id = e.delivery_id
                WHERE d.campaign_id = \(campaign) GROUP BY e.kind, e.delivery_id) t
            GROUP BY kind
            """, logger: logger).decode((String, Int64, Int64).self).collected() {
            if let kind = TrackingEventKind(rawValue: kind) {
                tracking[kind] = TrackingCounts(human: Int(human), machineOnly: Int(machineOnly))
            }
        }
        // Before the start, the audience is what the segment selects today.
        let audience = startedAt == nil
            ? try await Self.segmentCount(list: list, segment: segment, on: connection, logger: logger) : nil
        let notices = try await connection.query("""
            SELECT id, key, kind, campaign_id, detail, state, mail_from, rcpt_to, message_id, attempts, last_error,
                   created_at, sent_at
            FROM notices WHERE campaign_id = \(campaign) ORDER BY id
            """, logger: logger)
            .decode((Int64, String, String, Int64?, String, String, String?, String?, String?, Int64, String?, Int64, Int64?).self)
            .collected().map { row in
                Notice(id: row.0, key: row.1, kind: Notice.Kind(rawValue: row.2) ?? .failureSummary, campaignID: row.3,
                       detail: row.4, state: Notice.State(rawValue: row.5) ?? .pending, mailFrom: row.6, rcptTo: row.7,
                       messageID: row.8, message: nil, attempts: Int(row.9), lastError: row.10,
                       createdAt: Self.date(row.11), sentAt: row.12.map(Self.date))
            }
        return CampaignStatusReport(
            status: status,
            timing: CampaignTiming(scheduledAt: scheduledAt.map(Self.date), startedAt: startedAt.map(Self.date),
                                   finishedAt: finishedAt.map(Self.date), nextRetryAt: nextRetry.map(Self.date)),
            audience: audience, suppressedBy: suppressedBy, unsubscribes: unsubscribes, tracking: tracking,
            quota: try await quotaUse(on: connection), notices: notices)
    }

    /// Today's use against the quota (the store's clock says which day). With no quota,
    /// nothing keeps `quota_days`: today's attempts that reached a server, as on SQLite.
    private func quotaUse(on connection: PostgresConnection) async throws -> QuotaUse {
        let now = settings.clock()
        let day = QuotaDay.day(of: now)
        guard let perDay = settings.perDay else {
            let start = Int64((now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
            let used = try await connection.query("""
                SELECT count(*) FROM attempts
                WHERE attempted_at >= \(start) AND attempted_at < \(start + 86_400) AND (mx_host IS NOT NULL OR outcome = 'unknown')
                """, logger: logger).decode(Int64.self).collected().first ?? 0
            return QuotaUse(day: day, used: Int(used), perDay: nil)
        }
        let used = try await connection.query("SELECT COALESCE(max(used), 0) FROM quota_days WHERE day = \(day)", logger: logger)
            .decode(Int64.self).collected().first ?? 0
        return QuotaUse(day: day, used: Int(used), perDay: perDay)
    }
}

/// `salvo report` on PostgreSQL: the rows SQLite's report has, in the same order.
extension PostgresDeliveryStore {
    public func deliveryReport(campaign name: String) async throws -> [DeliveryReportRow] {
        try await described("deliveryReport") {
            try await client.withConnection { connection in
                let campaign = try await Self.campaignID(named: name, on: connection, logger: logger)
                // The first open and click that looked like a person's, by delivery.
                var events: [Int64: (opened: Int64?, clicked: Int64?)] = [:]
                for try await (id, opened, clicked) in try await connection.query("""
                    SELECT e.delivery_id, min(CASE WHEN e.kind = 'open' THEN e.at END), min(CASE WHEN e.kind = 'click' THEN e.at END)
                    FROM tracking_events e JOIN deliveries d ON d.id = e.delivery_id
                    WHERE d.campaign_id = \(campaign) AND NOT e.machine GROUP BY e.delivery_id
                    """, logger: logger).decode((Int64, Int64?, Int64?).self) {
                    events[id] = (opened, clicked)
                }
                var rows: [DeliveryReportRow] = []
                let query = try await connection.query("""
                    SELECT d.id, d.email, d.state, d.attempts, d.last_code, d.last_enhanced_code, d.last_response, d.mx_host,
                           d.message_id, d.first_attempt_at, d.last_attempt_at, d.tls_version, d.tls_verified, d.suppressed_by,
                           u.at
                    FROM deliveries d
                    LEFT JOIN unsubscribes u ON u.campaign = \(name) AND u.email = lower(d.email) AND u.undone_at IS NULL
                    WHERE d.campaign_id = \(campaign) ORDER BY d.id
                    """, logger: logger)
                for try await row in query.decode((Int64, String, String, Int64, Int64?, String?, String?, String?, String?,
                                                   Int64?, Int64?, String?, Bool?, String?, Int64?).self) {
                    let event = events[row.0]
                    rows.append(DeliveryReportRow(
                        email: row.1, status: row.2, attempts: Int(row.3), smtpCode: row.4.map(Int.init), enhancedCode: row.5,
                        response: row.6, mxHost: row.7, messageID: row.8, firstAttemptAt: row.9.map(Self.date),
                        lastAttemptAt: row.10.map(Self.date), tlsVersion: row.11, tlsVerified: row.12,
                        openedAt: event?.opened.map(Self.date), clickedAt: event?.clicked.map(Self.date),
                        unsubscribedAt: row.14.map(Self.date), suppressedBy: row.13))
                }
                return rows
            }
        }
    }

    public func linkClicks(campaign name: String) async throws -> [LinkClicks] {
        try await described("linkClicks") {
            try await client.withConnection { connection in
                let campaign = try await Self.campaignID(named: name, on: connection, logger: logger)
                return try await connection.query("""
                    SELECT e.link_position, min(e.link_target COLLATE "C"),
                           sum(CASE WHEN e.machine THEN 0 ELSE 1 END)::bigint, sum(CASE WHEN e.machine THEN 1 ELSE 0 END)::bigint
                    FROM tracking_events e JOIN deliveries d ON d.id = e.delivery_id
                    WHERE d.campaign_id = \(campaign) AND e.kind = 'click'
                    GROUP BY e.link_position ORDER BY e.link_position
                    """, logger: logger).decode((Int64, String, Int64, Int64).self).collected().map {
                    LinkClicks(position: Int($0.0), target: $0.1, human: Int($0.2), machine: Int($0.3))
                }
            }
        }
    }
}
