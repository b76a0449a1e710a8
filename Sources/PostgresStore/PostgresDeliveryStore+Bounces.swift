import Campaigns
import Foundation
import PostgresNIO

/// `salvo bounces import` on PostgreSQL (`BounceStore`), with the SQLite store's rules
/// (`BounceReading`, `BounceMatcher`). Each message is one transaction that first takes
/// its `bounce_messages` row, so two imports of one mailbox at once record each message
/// once: the second waits for the first's row and finds it. A delivery changes only if it
/// is still `sent` or `unknown` when the bounce is written, and only then is the attempt
/// logged and counted by the reputation guard.
extension PostgresDeliveryStore: BounceStore {
    public func recordBounce(_ reading: BounceReading, sha256: String, place: String,
                             matcher: BounceMatcher) async throws -> BounceRecording {
        let at = Self.seconds(matcher.now)
        let (recording, bounced) = try await transaction("recordBounce") { connection -> (BounceRecording, [Int64]) in
            let taken = try await connection.query("""
                INSERT INTO bounce_messages (sha256, place, kind, reporter, processed_at)
                VALUES (\(sha256), \(place), 'not-bounce', \(reading.reporter), \(at))
                ON CONFLICT (sha256) DO NOTHING RETURNING 1
                """, logger: logger).decode(Int.self).collected()
            guard !taken.isEmpty else { return (.alreadyProcessed, []) }
            let events = reading.events(matches: try await Self.match(reading, with: matcher, on: connection, logger: logger))
            try await connection.query("UPDATE bounce_messages SET kind = \(reading.kind(of: events).rawValue) WHERE sha256 = \(sha256)",
                                       logger: logger)
            var bounced: [Int64] = []
            for event in events {
                let changed = try await Self.apply(event, messageSHA256: sha256, at: at, on: connection, logger: logger)
                if changed, let delivery = event.bouncedDelivery { bounced.append(delivery) }
            }
            return (reading.recording(of: events), bounced)
        }
        if let maxBounceRate = settings.maxBounceRate, !bounced.isEmpty {
            try await transaction("recordBounce") { connection in
                let campaigns = try await connection.query(
                    "SELECT DISTINCT campaign_id FROM deliveries WHERE id = ANY(\(bounced)) ORDER BY 1", logger: logger)
                    .decode(Int64.self).collected()
                for campaign in campaigns { try await pauseIfBouncing(campaign, maxBounceRate: maxBounceRate, on: connection) }
            }
        }
        return recording
    }

    public func bounceMessageRecorded(sha256: String) async throws -> Bool {
        try await described("bounceMessageRecorded") {
            try await withConnection("bounceMessageRecorded") { connection in
                try await !connection.query("SELECT 1 FROM bounce_messages WHERE sha256 = \(sha256)", logger: logger)
                    .decode(Int.self).collected().isEmpty
            }
        }
    }

    public func recordImportedMessage(sha256: String, place: String, kind: String, now: Date) async throws {
        try await transaction("recordImportedMessage") { connection in
            try await connection.query("""
                INSERT INTO bounce_messages (sha256, place, kind, reporter, processed_at)
                VALUES (\(sha256), \(place), \(kind), NULL, \(Self.seconds(now)))
                ON CONFLICT (sha256) DO NOTHING
                """, logger: logger)
        }
    }

    public func latestCampaign(mailedTo address: String) async throws -> (email: String, campaign: String)? {
        try await described("latestCampaign") {
            try await withConnection("latestCampaign") { connection in
                try await connection.query("""
                    SELECT d.email, c.name FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
                    WHERE lower(d.email) = lower(\(address)) AND d.state IN ('sent', 'unknown')
                    ORDER BY d.last_attempt_at DESC NULLS LAST, d.id DESC LIMIT 1
                    """, logger: logger).decode((String, String).self).collected().first.map { (email: $0.0, campaign: $0.1) }
            }
        }
    }

    /// Each recipient block's delivery, by `matcher`'s rules, looked up on `connection`.
    private static func match(_ reading: BounceReading, with matcher: BounceMatcher, on connection: PostgresConnection,
                              logger: Logger) async throws -> [BounceMatch?] {
        let ids = matcher.verpIDs(in: reading.envelope)
        var found: [Int64: BounceMatch] = [:]
        if !ids.isEmpty {
            for (id, email, state) in try await connection.query(
                "SELECT id, email, state FROM deliveries WHERE id = ANY(\(ids))", logger: logger)
                .decode((Int64, String, String).self).collected() {
                found[id] = BounceMatch(deliveryID: id, email: email, state: state, rule: .verp)
            }
        }
        var byMessageID: [BounceMatch] = []
        if let messageID = reading.messageID {
            byMessageID = try await connection.query(
                "SELECT id, email, state FROM deliveries WHERE message_id = \(messageID) ORDER BY id", logger: logger)
                .decode((Int64, String, String).self).collected()
                .map { BounceMatch(deliveryID: $0.0, email: $0.1, state: $0.2, rule: .messageID) }
        }
        let matched = matcher.firstPass(recipients: reading.recipients, verpMatch: ids.lazy.compactMap { found[$0] }.first,
                                        byMessageID: byMessageID)
        var recent: [String: BounceMatch] = [:]
        // Without an index on the address, as on SQLite: only for reports that carry
        // neither a token nor a known Message-ID.
        for address in matcher.recentLookups(recipients: reading.recipients, matched: matched) {
            recent[address] = try await connection.query("""
                SELECT id, email, state FROM deliveries
                WHERE lower(email) = lower(\(address)) AND state IN ('sent', 'unknown') AND last_attempt_at >= \(matcher.recentSince)
                ORDER BY last_attempt_at DESC, id DESC LIMIT 1
                """, logger: logger).decode((Int64, String, String).self).collected().first
                .map { BounceMatch(deliveryID: $0.0, email: $0.1, state: $0.2, rule: .recipient) }
        }
        return matcher.finish(recipients: reading.recipients, matched: matched, recent: recent)
    }

    /// Writes one event; returns whether it changed its delivery.
    private static func apply(_ event: BounceEvent, messageSHA256: String, at: Int64, on connection: PostgresConnection,
                              logger: Logger) async throws -> Bool {
        try await connection.query("""
            INSERT INTO bounce_events (message_sha256, delivery_id, email, kind, status, diagnostic, remote_mta, matched_by, created_at)
            VALUES (\(messageSHA256), \(event.match?.deliveryID), \(event.email), \(event.kind.rawValue), \(event.status),
                    \(event.diagnostic), \(event.remoteMTA), \(event.match?.rule.rawValue), \(at))
            """, logger: logger)
        var changed = false
        if let change = event.deliveryChange {
            let code = event.smtpCode.map(Int64.init)
            changed = try await !connection.query("""
                UPDATE deliveries SET state = \(change.state), last_code = \(code), last_enhanced_code = \(event.status),
                       last_response = \(event.diagnostic)
                WHERE id = \(change.deliveryID) AND state IN ('sent', 'unknown') RETURNING 1
                """, logger: logger).decode(Int.self).collected().isEmpty
            if changed {
                try await connection.query("""
                    INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host)
                    VALUES (\(change.deliveryID), \(at), \(change.state), \(code), \(event.status), \(change.response), \(event.remoteMTA))
                    """, logger: logger)
            }
        }
        if let suppression = event.suppression {
            try await connection.query("""
                INSERT INTO suppressions (email, reason, detail, created_at)
                VALUES (lower(\(event.email)), \(suppression.reason.rawValue), \(suppression.detail), \(at))
                ON CONFLICT (email) DO NOTHING
                """, logger: logger)
        }
        return changed
    }
}
