/// What a domain's SPF policy says about the sending addresses, as report lines.
public enum SPFCheck {
    public static func findings(_ policy: SPFPolicy, addresses: [IPAddress]) -> [DoctorFinding] {
        let domain = policy.domain
        let terms = addresses.map { ($0.isIPv4 ? "ip4:" : "ip6:") + $0.description }
        func suggestion(from record: String?) -> String {
            var parts = (record ?? "v=spf1 ~all").split(separator: " ").map(String.init)
            let missing = terms.filter { term in !parts.contains { $0.lowercased() == term.lowercased() } }
            parts.insert(contentsOf: missing, at: 1)
            return "publish \(domain) TXT \"\(parts.joined(separator: " "))\""
        }
        switch policy.lookup {
        case .none(let reason):
            return [DoctorFinding(.fail, "SPF", "\(domain) has no SPF record (\(reason))", fix: suggestion(from: nil))]
        case .multiple(let records):
            return [DoctorFinding(.fail, "SPF", "\(domain) has \(records.count) v=spf1 records (\(records.map { "\"\($0)\"" }.joined(separator: ", "))): receivers return permerror",
                                  fix: suggestion(from: records[0]) + " as the one record, the others merged into it")]
        case .invalid(let record, let error):
            return [DoctorFinding(.fail, "SPF", "\(domain): \"\(record)\" is invalid, receivers return permerror: \(error)", fix: suggestion(from: nil))]
        case .temporary(let reason):
            return [DoctorFinding(.warn, "SPF", "\(domain): the SPF lookup failed for now: \(reason)")]
        case .record(let record, _, _):
            var findings: [DoctorFinding] = []
            if addresses.isEmpty {
                findings.append(DoctorFinding(.warn, "SPF", "\(domain) has \"\(record.text)\"; no sending IPs to check it against (set doctor.sending_ips)"))
            }
            for address in addresses {
                switch policy.evaluate(address) {
                case .pass(let term):
                    findings.append(DoctorFinding(.ok, "SPF", "\(domain) \"\(record.text)\" passes \(address) (\(term))"))
                case .fail(let term), .softfail(let term):
                    findings.append(DoctorFinding(.fail, "SPF", "\(domain) \"\(record.text)\" does not cover \(address) (it ends at \(term))",
                                                  fix: suggestion(from: record.text)))
                case .neutral(let term):
                    findings.append(DoctorFinding(.fail, "SPF", "\(domain) \"\(record.text)\" does not cover \(address) (neutral\(term.map { " at \($0)" } ?? ""))",
                                                  fix: suggestion(from: record.text)))
                case .none:
                    findings.append(DoctorFinding(.fail, "SPF", "\(domain) has no SPF record", fix: suggestion(from: nil)))
                case .permerror(let reason):
                    findings.append(DoctorFinding(.fail, "SPF", "\(domain) \"\(record.text)\" is a permerror for \(address): \(reason)",
                                                  fix: suggestion(from: nil) + " (or any record of at most \(SPFExpansion.lookupLimit) lookups that covers \(address))"))
                case .temperror(let reason):
                    findings.append(DoctorFinding(.warn, "SPF", "\(domain): cannot tell whether SPF covers \(address), a lookup failed for now: \(reason)"))
                case .cannotTell(let reason):
                    findings.append(DoctorFinding(.warn, "SPF", "\(domain) \"\(record.text)\": cannot tell whether it covers \(address): \(reason)"))
                }
            }
            if policy.exceedsLookupLimit, !findings.contains(where: { $0.status == .fail }) {
                findings.append(DoctorFinding(.warn, "SPF", "\(domain)'s SPF needs more than \(SPFExpansion.lookupLimit) DNS lookups: receivers return permerror for any address it has not matched by then",
                                              fix: "use fewer include:, a and mx terms (ip4:/ip6: need no lookup)"))
            }
            return findings
        }
    }
}
