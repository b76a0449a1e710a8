import NIOCore

/// How long the reader waits. RFC 1939 §3 lets a server log an idle client out after ten
/// minutes; a reader waits less than that for any one response.
public struct POP3Timeouts: Sendable, Hashable {
    public var connect: TimeAmount
    /// The TLS handshake and the greeting.
    public var greeting: TimeAmount
    /// From a command, or from the last bytes of a long response, to the next bytes.
    public var response: TimeAmount

    public init(connect: TimeAmount = .seconds(30), greeting: TimeAmount = .seconds(60), response: TimeAmount = .seconds(120)) {
        self.connect = connect
        self.greeting = greeting
        self.response = response
    }
}
