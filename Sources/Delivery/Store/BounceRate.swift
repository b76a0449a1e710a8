import Foundation

/// A campaign's bounced deliveries over its attempted ones: what the reputation guard
/// judges, the same way in every store (the store counts, inside the transaction that
/// recorded the bounce, and pauses the campaign with `pauseReason` as its state reason).
public struct BounceRate: Sendable, Equatable {
    public var bounced: Int
    /// Deliveries that reached an outcome: sent, bounced, failed, unknown or deferred.
    public var attempted: Int

    public init(bounced: Int, attempted: Int) {
        self.bounced = bounced
        self.attempted = attempted
    }

    /// Why the campaign pauses, or nil while it may go on: fewer than `minimumAttempts`
    /// attempts mean nothing yet, and the rate must pass `maxBounceRate`.
    public func pauseReason(maxBounceRate: Double, minimumAttempts: Int) -> String? {
        guard attempted >= minimumAttempts, Double(bounced) > maxBounceRate * Double(attempted) else { return nil }
        let percent = String(format: "%.1f", 100 * Double(bounced) / Double(attempted))
        return "reputation guard: \(bounced) of \(attempted) attempted recipients bounced (\(percent)%, more than "
            + "\(String(format: "%g", maxBounceRate * 100))%); clean the list, then `salvo resume`"
    }
}
