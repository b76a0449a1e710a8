/// A `SitePool` gave no connection for a reason of its own. When no destination of the
/// site took a connection, the pool throws the `SMTPError` of the attempt instead, for the
/// engine to handle at the level it belongs to.
public struct SitePoolError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
        case shutDown(site: String)
        case noConnectionLease(site: String, keys: [String], waited: Duration)
    }

    private let base: Base

    /// The pool was shut down before (or while) the caller waited.
    public static func shutDown(_ site: String) -> SitePoolError {
        SitePoolError(base: .shutDown(site: site))
    }

    /// Every connection the store allows for `keys` was held by some sender for `waited`.
    public static func noConnectionLease(_ site: String, keys: [String], waited: Duration) -> SitePoolError {
        SitePoolError(base: .noConnectionLease(site: site, keys: keys, waited: waited))
    }

    public var isShutDown: Bool {
        if case .shutDown = base { true } else { false }
    }

    public var isNoConnectionLease: Bool {
        if case .noConnectionLease = base { true } else { false }
    }

    public var description: String {
        switch base {
        case .shutDown(let site):
            "the pool for \(site) is shut down"
        case .noConnectionLease(let site, let keys, let waited):
            "no connection to \(site) within \(waited): every connection the store allows for "
                + "\(keys.joined(separator: " and ")) is held by its senders"
        }
    }
}
