import Delivery
import SMTP

extension SalvoConfiguration {
    /// Every source address `salvo.yml` names, each with the key that names it:
    /// `delivery.source_address`, then `source_addresses` in `limits.default`, the
    /// `limits.sites` patterns and the `limits.domains` entries (each group in key order,
    /// so the first one reported is always the same).
    var configuredSourceAddresses: [(key: String, address: String)] {
        var found: [(key: String, address: String)] = []
        if let address = delivery.sourceAddress { found.append(("delivery.source_address", address)) }
        for address in limits.default.sourceAddresses ?? [] { found.append(("limits.default.source_addresses", address)) }
        for (group, entries) in [("limits.sites", limits.sites), ("limits.domains", limits.domains)] {
            for name in entries.keys.sorted() {
                for address in entries[name]?.sourceAddresses ?? [] { found.append(("\(group).\(name).source_addresses", address)) }
            }
        }
        return found
    }

    /// The sender's failure a send stops at before it claims anyone when one configured
    /// source address cannot be used on this host; nil when all of them can.
    public func unusableSourceAddress() -> SenderFailure? {
        for (key, address) in configuredSourceAddresses {
            if let problem = SourceAddressCheck.problem(with: address) {
                return SenderFailure(server: "this host", command: "\(key) in \(file ?? "salvo.yml")", reply: problem)
            }
        }
        return nil
    }
}
