import Campaigns
import Delivery
import Foundation
import PostgresNIO

/// The statement of one commit, prepared once per connection: the outcomes' update, the
/// attempt log, the hard bounces' suppression, the daily quota's count and notices, and
/// the next messages' `sending` marks, as data-modifying parts of one statement. It
/// returns `('r', delivery, campaign)` for each outcome recorded and `('m', delivery, 0)`
/// for each delivery marked `sending`.
///
/// Every part is always there and does nothing when it has nothing to do (no quota: a
/// NULL day; no marks: an empty list), so the text never changes and the server parses
/// and plans it once per connection rather than at every commit of a send.
struct CommitStatement: PostgresPreparedStatement {
    typealias Row = (String, Int64, Int64)

    /// The outcomes as one JSON array of objects.
    var outcomes: String
    var owner: String
    /// The quota's day, nil for no quota; its limit, the store's time, and its notice
    /// lines as JSON.
    var quotaDay: String?
    var perDay: Int64
    var quotaNow: Int64
    var noticeLines: String
    var marks: [Int64]
    var markedAt: Int64
    /// The states a delivery to mark may be in: `claimed`, and `sending` too when the same
    /// commit is made again after its reply was lost and may have marked it already.
    var markable: [String]

    /// - Parameters:
    ///   - quota: the rule and the store's time; the quota's day is that of its `now`.
    ///   - remarking: the same commit made again after its reply was lost (`enduring`).
    init(_ batch: [DeliveryOutcome], hardBounces: Set<Int64>, marking: (ids: [Int64], now: Date)?,
         owner: String, quota: (rule: DailyQuota, now: Date)?, remarking: Bool = false) throws {
        let rows: [[String: Any]] = batch.enumerated().map { index, outcome in
            var row: [String: Any] = [
                "ord": index, "id": outcome.deliveryID, "state": outcome.state.rawValue, "response": outcome.response,
                "at": PostgresDeliveryStore.seconds(outcome.attemptedAt), "hard": hardBounces.contains(outcome.deliveryID),
                "detail": [outcome.code.map(String.init), outcome.enhancedCode, outcome.response].compactMap { $0 }.joined(separator: " "),
            ]
            row["code"] = outcome.code
            row["enhanced"] = outcome.enhancedCode
            row["mx_host"] = outcome.mxHost
            row["message_id"] = outcome.messageID
            row["next"] = outcome.nextAttemptAt.map(PostgresDeliveryStore.seconds)
            row["tls_version"] = outcome.tlsVersion
            row["tls_verified"] = outcome.certificateVerified
            row["source"] = outcome.sourceAddress
            return row
        }
        outcomes = String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self)
        self.owner = owner
        if let (rule, now) = quota {
            let day = QuotaDay.day(of: now)
            let lines: [[String: Any]] = rule.noticeLines.map {
                ["kind": $0.kind.rawValue, "key": DailyQuota.noticeKey($0.kind, day: day), "line": $0.line]
            }
            (quotaDay, perDay, quotaNow) = (day, Int64(rule.perDay), PostgresDeliveryStore.seconds(now))
            noticeLines = String(decoding: try JSONSerialization.data(withJSONObject: lines), as: UTF8.self)
        } else {
            (quotaDay, perDay, quotaNow, noticeLines) = (nil, 0, 0, "[]")
        }
        marks = marking?.ids ?? []
        markedAt = marking.map { PostgresDeliveryStore.seconds($0.now) } ?? 0
        markable = remarking ? ["claimed", "sending"] : ["claimed"]
    }

    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .int8, .int8, .text, .int8Array, .int8, .textArray]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 9)
        bindings.append(outcomes)
        bindings.append(owner)
        bindings.append(quotaDay)
        bindings.append(perDay)
        bindings.append(quotaNow)
        bindings.append(noticeLines)
        bindings.append(marks)
        bindings.append(markedAt)
        bindings.append(markable)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }

    // A message handed to a server counts against the day's quota (`unknown`: it may
    // have been). The count the upsert returns includes every commit before it (the row
    // is locked until this one ends), so the notice lines this batch crossed are its own,
    // queued once a day each to the campaign of its first such message. The TLS of the
    // session mx_host names is kept when no server was reached.
    static let sql = """
        WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
                ord bigint, id bigint, state text, code bigint, enhanced text, response text, mx_host text,
                message_id text, at bigint, next bigint, tls_version text, tls_verified boolean, source text,
                hard boolean, detail text)
        ), updated AS (
            UPDATE deliveries d
            SET state = x.state, attempts = d.attempts + 1,
                last_code = x.code, last_enhanced_code = x.enhanced, last_response = x.response,
                mx_host = COALESCE(x.mx_host, d.mx_host), message_id = COALESCE(x.message_id, d.message_id),
                first_attempt_at = COALESCE(d.first_attempt_at, x.at), last_attempt_at = x.at,
                next_attempt_at = COALESCE(x.next, d.next_attempt_at),
                claimed_by = NULL, claimed_at = NULL,
                tls_version = CASE WHEN x.mx_host IS NULL THEN d.tls_version ELSE x.tls_version END,
                tls_verified = CASE WHEN x.mx_host IS NULL THEN d.tls_verified ELSE x.tls_verified END
            FROM input x
            WHERE d.id = x.id AND d.claimed_by = $2 AND d.state IN ('claimed', 'sending', 'unknown')
              AND (d.state <> 'claimed' OR x.state <> 'sent')
            RETURNING d.id, d.campaign_id, d.email
        ), logged AS (
            INSERT INTO attempts (delivery_id, attempted_at, outcome, code, enhanced_code, response, mx_host,
                                  tls_version, tls_verified, source_address)
            SELECT x.id, x.at, x.state, x.code, x.enhanced, x.response, x.mx_host, x.tls_version, x.tls_verified, x.source
            FROM input x JOIN updated u ON u.id = x.id
            ORDER BY x.ord
        ), suppressed AS (
            INSERT INTO suppressions (email, reason, detail, created_at)
            SELECT DISTINCT ON (lower(u.email)) lower(u.email), 'hard-bounce', x.detail, x.at
            FROM input x JOIN updated u ON u.id = x.id
            WHERE x.hard
            ORDER BY lower(u.email), x.ord
            ON CONFLICT (email) DO NOTHING
        ), counted AS (
            SELECT count(*) AS n, (array_agg(u.campaign_id ORDER BY x.ord))[1] AS campaign
            FROM input x JOIN updated u ON u.id = x.id
            WHERE $3::text IS NOT NULL AND (x.mx_host IS NOT NULL OR x.state = 'unknown')
        ), quota AS (
            INSERT INTO quota_days (day, used)
            SELECT $3::text, n FROM counted WHERE n > 0
            ON CONFLICT (day) DO UPDATE SET used = quota_days.used + excluded.used
            RETURNING used
        ), quota_notices AS (
            INSERT INTO notices (key, kind, campaign_id, detail, created_at)
            SELECT l.key, l.kind, c.campaign,
                   json_build_object('day', $3::text, 'used', q.used, 'perDay', $4::bigint)::text,
                   $5::bigint
            FROM quota q CROSS JOIN counted c
            CROSS JOIN jsonb_to_recordset($6::jsonb) AS l(kind text, key text, line bigint)
            WHERE q.used - c.n < l.line AND q.used >= l.line
            ON CONFLICT (key) DO NOTHING
        ), marked AS (
            UPDATE deliveries SET state = 'sending', claimed_at = $8::bigint
            WHERE id = ANY($7::bigint[]) AND state = ANY($9::text[]) AND claimed_by = $2
            RETURNING id
        )
        SELECT 'r', id, campaign_id FROM updated
        UNION ALL SELECT 'm', id, 0 FROM marked
        """
}
