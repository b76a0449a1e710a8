/// What the server said it can do in its CAPA response (RFC 2449), or nothing when it
/// does not know CAPA (RFC 1939 servers); then USER/PASS and UIDL are simply tried.
public struct POP3Capabilities: Sendable, Hashable {
    /// The capability lines as the server sent them (`SASL PLAIN`, `UIDL`, …).
    public var lines: [String]
    /// False when CAPA was answered `-ERR`.
    public var announced: Bool

    public init(lines: [String], announced: Bool = true) {
        self.lines = lines
        self.announced = announced
    }

    /// Capability names in upper case (the first word of each line).
    public var names: Set<String> {
        Set(lines.compactMap { $0.split(separator: " ").first.map { $0.uppercased() } })
    }

    /// USER/PASS login is offered, or CAPA was not answered (so it may be).
    public var offersUserLogin: Bool { !announced || names.contains("USER") }

    public static let unannounced = POP3Capabilities(lines: [], announced: false)
}
