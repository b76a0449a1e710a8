/// A failure that is the sender's own, not any recipient's (DESIGN.md, "Where a failure
/// lands"): credentials refused, AUTH in clear text refused, HELO refused, a relay whose
/// certificate is not trusted, a configuration that cannot work. The route it happened on
/// stops once; nobody's delivery is recorded as failed for it; the command ends non-zero
/// with `description` as its one line.
public struct SenderFailure: Sendable, Equatable, CustomStringConvertible {
    /// `host:port` of the server that refused.
    public var server: String
    /// The command whose reply was the refusal (`AUTH PLAIN`, `HELO`, `STARTTLS`, …).
    public var command: String
    /// The server's reply, or what went wrong when there was none.
    public var reply: String

    public init(server: String, command: String, reply: String) {
        self.server = server
        self.command = command
        self.reply = reply
    }

    public var description: String { "\(server): \(command): \(reply)" }
}
