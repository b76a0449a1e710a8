extension DeliveryOutcome {
    /// Throws unless every one of `outcomes` is one an attempt can end in: a final state,
    /// or `deferred` with its next attempt time. Every store refuses the rest the same way
    /// (`DeliveryStoreError`), before it writes anything.
    public static func checkOutcomes(_ outcomes: [DeliveryOutcome]) throws {
        for outcome in outcomes {
            switch outcome.state {
            case .sent, .bounced, .failed, .unknown: break
            case .deferred where outcome.nextAttemptAt != nil: break
            case .deferred: throw DeliveryStoreError.deferredWithoutTime(outcome.deliveryID)
            default: throw DeliveryStoreError.outcomeState(outcome.deliveryID, outcome.state)
            }
        }
    }
}
