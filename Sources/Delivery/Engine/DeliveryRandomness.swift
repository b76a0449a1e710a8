import NIOConcurrencyHelpers

/// Where the engine's back-off jitter comes from: the system's generator, or the seeded
/// one a test passes.
///
/// A concrete type on purpose. The policy takes its generator as `inout some
/// RandomNumberGenerator` on every reply; given an existential, each call would run the
/// unspecialised generic code and look up type metadata at run time, on every message.
/// The system generator needs no lock; only a test's seeded one is shared behind one.
struct DeliveryRandomness: RandomNumberGenerator, Sendable {
    private let seeded: NIOLockedValueBox<any RandomNumberGenerator & Sendable>?

    init(_ seeded: (any RandomNumberGenerator & Sendable)?) {
        self.seeded = seeded.map { NIOLockedValueBox($0) }
    }

    mutating func next() -> UInt64 {
        if let seeded { return seeded.withLockedValue { $0.next() } }
        var system = SystemRandomNumberGenerator()
        return system.next()
    }
}
