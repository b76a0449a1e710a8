import Foundation

/// A limit that stops every claim until a known time, whatever is due: the daily sending
/// quota. Not a failure of any recipient; the pass ends and says why.
public struct SendingHold: Sendable, Equatable, CustomStringConvertible {
    /// One line for the user: "daily quota of 30 reached; resumes tomorrow (UTC)".
    public var reason: String
    /// When claiming can go on.
    public var until: Date

    public init(reason: String, until: Date) {
        self.reason = reason
        self.until = until
    }

    public var description: String { reason }
}
