import Campaigns
import Foundation
import PostgresNIO

/// Opens, clicks and `/v/` of `salvo serve` on PostgreSQL (`WebStore`): one row per
/// request in `tracking_events`, each one statement of its own.
extension PostgresDeliveryStore: WebStore {
    /// The delivery `id` names, with the attributes its message was rendered with (read
    /// as the claim reads them) and when a server accepted it: its last `sent` attempt.
    public func trackedDelivery(id: Int64) async throws -> TrackedDelivery? {
        try await described("trackedDelivery") {
            guard let (id, campaign, email, attributes, sentAt) = try await withConnection("trackedDelivery", { connection in
                try await connection.query("""
                SELECT d.id, c.name, d.email, r.attributes::text,
                       (SELECT max(a.attempted_at) FROM attempts a WHERE a.delivery_id = d.id AND a.outcome = 'sent')
                FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id JOIN recipients r ON r.id = d.recipient_id
                WHERE d.id = \(id)
                """, logger: logger).decode((Int64, String, String, String?, Int64?).self).collected().first
            })
            else { return nil }
            return TrackedDelivery(id: id, campaign: campaign, email: email, attributes: Self.attributes(attributes),
                                   sentAt: sentAt.map(Self.date))
        }
    }

    public func recordTrackingEvent(delivery: Int64, kind: TrackingEventKind, link: (position: Int, target: String)?,
                                    verdict: TrackingVerdict, now: Date) async throws {
        try await described("recordTrackingEvent") {
            try await withConnection("recordTrackingEvent") { connection in
                try await connection.query("""
                INSERT INTO tracking_events (delivery_id, kind, link_position, link_target, at, machine, machine_reason)
                VALUES (\(delivery), \(kind.rawValue), \(link.map { Int64($0.position) }), \(link?.target), \(Self.seconds(now)),
                        \(verdict.isMachine), \(verdict.reason))
                """, logger: logger)
            }
        }
    }
}
