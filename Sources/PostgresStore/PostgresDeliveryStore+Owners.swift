import Delivery
import Foundation
import PostgresNIO

/// Owners: the engines sending from this database, on any host, each with a heartbeat in
/// `senders`. An owner silent for longer than `Settings.senderLease` (or, on this host,
/// whose process has ended) is presumed dead: what it held is taken back, its leases count
/// for nothing.
extension PostgresDeliveryStore {
    public func heartbeat(owner: String, now: Date) async throws {
        let process = SenderProcess.current
        let now = Self.seconds(now)
        try await enduringTransaction("heartbeat") { [self] connection in
            try await connection.query("""
                INSERT INTO senders (owner, host, process, started_at, heartbeat_at)
                VALUES (\(owner), \(process.host), \(process.process), \(now), \(now))
                ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
                """, logger: logger)
        }
    }

    public func signOff(owner: String) async throws {
        try await enduringTransaction("signOff") { [self] connection in
            try await connection.query("""
                UPDATE deliveries
                SET state = CASE WHEN (SELECT c.state FROM campaigns c WHERE c.id = deliveries.campaign_id) = 'cancelled'
                                 THEN 'cancelled' ELSE 'pending' END,
                    claimed_by = NULL, claimed_at = NULL
                WHERE claimed_by = \(owner) AND state = 'claimed'
                """, logger: logger)
            try await connection.query("DELETE FROM senders WHERE owner = \(owner)", logger: logger)
            try await connection.query("DELETE FROM shared_leases WHERE owner = \(owner)", logger: logger)
        }
    }

    public func recoverAbandoned(campaign: Int64, owner: String, now: Date) async throws -> DeliveryRecovery {
        let now = Self.seconds(now)
        return try await enduringTransaction("recoverAbandoned") { [self] connection in
            let holders = try await connection.query("""
                SELECT DISTINCT d.claimed_by, s.host, s.process, s.heartbeat_at
                FROM deliveries d LEFT JOIN senders s ON s.owner = d.claimed_by
                WHERE d.campaign_id = \(campaign) AND d.state IN ('claimed', 'sending')
                """, logger: logger).decode((String?, String?, String?, Int64?).self).collected()
            var gone: [String] = []
            var orphans = false
            for (holder, host, process, heartbeatAt) in holders {
                guard let holder else { orphans = true; continue }
                if holder == owner { continue }
                if !SenderProcess.isAlive(host: host, process: process, heartbeatAt: heartbeatAt, now: now, lease: settings.senderLease) {
                    gone.append(holder)
                }
            }
            guard !gone.isEmpty || orphans else { return DeliveryRecovery() }
            // Locked in id order first, so two recoveries (or a recovery and a cancel) do
            // not deadlock over the same rows.
            try await connection.query("""
                SELECT id FROM deliveries
                WHERE campaign_id = \(campaign) AND state IN ('claimed', 'sending')
                  AND (claimed_by IS NULL OR claimed_by = ANY(\(gone)))
                ORDER BY id FOR UPDATE
                """, logger: logger)
            let released = try await connection.query("""
                UPDATE deliveries SET state = 'pending', claimed_by = NULL, claimed_at = NULL
                WHERE campaign_id = \(campaign) AND state = 'claimed' AND (claimed_by IS NULL OR claimed_by = ANY(\(gone)))
                RETURNING id
                """, logger: logger).decode(Int64.self).collected().count
            // The message may have been accepted: say so in the attempt log and never send
            // it again without `resendUnknown`.
            try await connection.query("""
                INSERT INTO attempts (delivery_id, attempted_at, outcome, response)
                SELECT id, COALESCE(claimed_at, \(now)), 'unknown', \(DeliveryRecovery.unknownResponse) FROM deliveries
                WHERE campaign_id = \(campaign) AND state = 'sending' AND (claimed_by IS NULL OR claimed_by = ANY(\(gone)))
                """, logger: logger)
            let unknown = try await connection.query("""
                UPDATE deliveries
                SET state = 'unknown', attempts = attempts + 1, last_code = NULL, last_enhanced_code = NULL,
                    last_response = \(DeliveryRecovery.unknownResponse),
                    first_attempt_at = COALESCE(first_attempt_at, claimed_at, \(now)),
                    last_attempt_at = COALESCE(claimed_at, \(now))
                WHERE campaign_id = \(campaign) AND state = 'sending' AND (claimed_by IS NULL OR claimed_by = ANY(\(gone)))
                RETURNING id
                """, logger: logger).decode(Int64.self).collected().count
            try await connection.query("DELETE FROM senders WHERE owner = ANY(\(gone))", logger: logger)
            try await connection.query("DELETE FROM shared_leases WHERE owner = ANY(\(gone))", logger: logger)
            return DeliveryRecovery(released: released, unknown: unknown)
        }
    }
}
