/// A simulated clock's instant: time is an offset from the start of the test, moved
/// only by the test.
struct FakeInstant: InstantProtocol, CustomStringConvertible {
    var offset: Duration

    static let start = FakeInstant(offset: .zero)

    func advanced(by duration: Duration) -> FakeInstant { FakeInstant(offset: offset + duration) }
    func duration(to other: FakeInstant) -> Duration { other.offset - offset }
    static func < (lhs: FakeInstant, rhs: FakeInstant) -> Bool { lhs.offset < rhs.offset }

    static func seconds(_ seconds: Double) -> FakeInstant { FakeInstant(offset: .seconds(seconds)) }
    static func milliseconds(_ milliseconds: Int64) -> FakeInstant { FakeInstant(offset: .milliseconds(milliseconds)) }

    var description: String { "t+\(offset)" }
}
