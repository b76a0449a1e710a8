/// One entry of `limits`: the settings it names, nil where it names none, so entries
/// can be layered (`default`, then the matching `sites` patterns, then the domain).
///
/// The plain input the Campaigns configuration is mapped onto; `Delivery` does not
/// read YAML.
public struct DeliveryLimits: Sendable, Hashable {
    /// Open connections at most (per site; for `global`, in the whole process).
    public var connections: Int?
    /// Messages at most (per site, per domain, or in the whole process).
    public var rate: Rate?
    /// Transactions on one connection before QUIT and a fresh connection.
    public var messagesPerConnection: Int?
    /// RCPT commands in one transaction, for identical messages.
    public var recipientsPerTransaction: Int?
    /// Refuse to deliver without STARTTLS (no downgrade to plain text).
    public var requireTLS: Bool?
    /// The local addresses connections are made from, each with `connections` of its
    /// own (a provider counts connections per sending IP); empty or nil for
    /// `delivery.source_address` or the system's choice.
    public var sourceAddresses: [String]?

    public init(connections: Int? = nil, rate: Rate? = nil, messagesPerConnection: Int? = nil,
                recipientsPerTransaction: Int? = nil, requireTLS: Bool? = nil, sourceAddresses: [String]? = nil) {
        self.connections = connections
        self.rate = rate
        self.messagesPerConnection = messagesPerConnection
        self.recipientsPerTransaction = recipientsPerTransaction
        self.requireTLS = requireTLS
        self.sourceAddresses = sourceAddresses
    }

    /// These limits with every setting `other` names taking its place.
    public func overlaid(by other: DeliveryLimits) -> DeliveryLimits {
        DeliveryLimits(connections: other.connections ?? connections,
                       rate: other.rate ?? rate,
                       messagesPerConnection: other.messagesPerConnection ?? messagesPerConnection,
                       recipientsPerTransaction: other.recipientsPerTransaction ?? recipientsPerTransaction,
                       requireTLS: other.requireTLS ?? requireTLS,
                       sourceAddresses: other.sourceAddresses ?? sourceAddresses)
    }

    /// Whether this entry sets anything that belongs to a connection pool (everything
    /// but the rate), which a domain can only have by getting a pool of its own.
    public var setsPoolSettings: Bool {
        connections != nil || messagesPerConnection != nil || recipientsPerTransaction != nil || requireTLS != nil
            || sourceAddresses != nil
    }
}
