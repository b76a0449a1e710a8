import Delivery

/// A DMARC policy record (RFC 7489 §6.3).
public struct DMARCRecord: Sendable, Equatable {
    public enum Policy: String, Sendable { case none, quarantine, reject }
    public enum Mode: String, Sendable { case relaxed = "r", strict = "s" }

    public var policy: Policy
    public var subdomainPolicy: Policy?
    public var dkimAlignment: Mode
    public var spfAlignment: Mode
    public var percent: Int
    public var reportTo: String?
    public var text: String

    public static func isDMARC(_ text: String) -> Bool {
        guard let first = DNSTagList(text)?.tags.first else { return text.hasPrefix("v=DMARC1") }
        return first.name == "v" && first.value == "DMARC1"
    }

    /// Parses a record; the error says which tag a receiver would reject.
    public init(_ text: String) throws(DMARCRecordError) {
        guard let tags = DNSTagList(text) else { throw DMARCRecordError("not a tag=value; list") }
        guard tags.tags.first?.name == "v", tags["v"] == "DMARC1" else { throw DMARCRecordError("does not start with v=DMARC1") }
        guard let p = tags["p"] else { throw DMARCRecordError("has no p= (none, quarantine or reject)") }
        guard let policy = Policy(rawValue: p.lowercased()) else { throw DMARCRecordError("p=\(p) is not none, quarantine or reject") }
        self.policy = policy
        self.text = text
        subdomainPolicy = nil
        if let sp = tags["sp"] {
            guard let value = Policy(rawValue: sp.lowercased()) else { throw DMARCRecordError("sp=\(sp) is not none, quarantine or reject") }
            subdomainPolicy = value
        }
        func mode(_ tag: String) throws(DMARCRecordError) -> Mode {
            guard let value = tags[tag] else { return .relaxed }
            guard let mode = Mode(rawValue: value.lowercased()) else { throw DMARCRecordError("\(tag)=\(value) is not r or s") }
            return mode
        }
        dkimAlignment = try mode("adkim")
        spfAlignment = try mode("aspf")
        percent = 100
        if let pct = tags["pct"] {
            guard let value = Int(pct), (0...100).contains(value) else { throw DMARCRecordError("pct=\(pct) is not 0 to 100") }
            percent = value
        }
        reportTo = tags["rua"]
    }
}

public struct DMARCRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Whether an authenticated domain (DKIM's `d=`, SPF's MAIL FROM domain) aligns with the
/// From domain (RFC 7489 §3.1).
public enum DMARCAlignment: Sendable, Equatable {
    case aligned
    case notAligned
    /// The two share a parent that is their organizational domain only if it is not a
    /// public suffix, which Salvo does not look up.
    case sharedParent(String)

    public static func of(_ domain: String, with fromDomain: String, mode: DMARCRecord.Mode) -> DMARCAlignment {
        let a = domain.lowercased(), b = fromDomain.lowercased()
        if a == b { return .aligned }
        if mode == .strict { return .notAligned }
        if a.hasSuffix("." + b) || b.hasSuffix("." + a) { return .aligned }
        let labelsA = a.split(separator: "."), labelsB = b.split(separator: ".")
        // The run of equal labels from the right.
        var common: [Substring] = []
        for (x, y) in zip(labelsA.reversed(), labelsB.reversed()) {
            guard x == y else { break }
            common.insert(x, at: 0)
        }
        return common.count >= 2 ? .sharedParent(common.joined(separator: ".")) : .notAligned
    }
}

/// The report lines for `_dmarc.DOMAIN`: the record, its policy, and whether DKIM's and
/// SPF's domains align with the From domain so that DMARC can pass.
public enum DMARCCheck {
    /// - Parameters:
    ///   - answer: the TXT lookup of `_dmarc.fromDomain`.
    ///   - parentAnswer: when that has no record, the lookup at the organizational domain
    ///     (RFC 7489 §6.6.3), with its name.
    ///   - dkimDomain: the `d=` the signatures carry; nil when nothing is signed.
    ///   - bounceDomain: the MAIL FROM domain SPF authenticates.
    public static func findings(fromDomain: String, answer: Result<[String], DNSLookupError>,
                                parent: (name: String, answer: Result<[String], DNSLookupError>)?,
                                dkimDomain: String?, bounceDomain: String) -> [DoctorFinding] {
        let name = "_dmarc.\(fromDomain)"
        let publish = "publish \(name) TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@\(fromDomain)\" (then quarantine or reject once the reports are clean)"
        var source = name
        var found: [String] = []
        switch answer {
        case .success(let texts): found = texts.filter(DMARCRecord.isDMARC)
        case .failure(let error) where error.isTemporary:
            return [DoctorFinding(.warn, "DMARC", "\(name): \(error)")]
        case .failure: break
        }
        if found.isEmpty, let parent, case .success(let texts) = parent.answer {
            found = texts.filter(DMARCRecord.isDMARC)
            source = parent.name
        }
        guard !found.isEmpty else {
            return [DoctorFinding(.fail, "DMARC", "\(name) has no DMARC record: Gmail and Yahoo require one of bulk senders", fix: publish)]
        }
        guard found.count == 1 else {
            return [DoctorFinding(.fail, "DMARC", "\(source) has \(found.count) DMARC records: receivers ignore them all", fix: publish + ", and only that one")]
        }
        let record: DMARCRecord
        do {
            record = try DMARCRecord(found[0])
        } catch {
            return [DoctorFinding(.fail, "DMARC", "\(source): \"\(found[0])\" is invalid: \(error)", fix: publish)]
        }
        var findings: [DoctorFinding] = []
        let policy = source == name ? record.policy : (record.subdomainPolicy ?? record.policy)
        let inherited = source == name ? "" : " (inherited from \(source))"
        let pct = record.percent < 100 ? ", pct=\(record.percent)" : ""
        switch policy {
        case .none:
            findings.append(DoctorFinding(.ok, "DMARC", "\(name)\(inherited): p=none\(pct), monitoring only\(record.reportTo == nil ? ", and no rua= to receive the reports" : ""): \"\(record.text)\""))
        case .quarantine, .reject:
            findings.append(DoctorFinding(.ok, "DMARC", "\(name)\(inherited): p=\(policy.rawValue)\(pct): \"\(record.text)\""))
        }

        func line(_ what: String, _ domain: String?, mode: DMARCRecord.Mode) -> (DMARCAlignment?, String) {
            guard let domain else { return (nil, "\(what): nothing is signed") }
            let alignment = DMARCAlignment.of(domain, with: fromDomain, mode: mode)
            let modeText = mode == .strict ? "strict" : "relaxed"
            let what = what.hasSuffix("=") ? what + domain : what + " " + domain
            switch alignment {
            case .aligned: return (alignment, "\(what) aligns with From \(fromDomain) (\(modeText))")
            case .notAligned: return (alignment, "\(what) does not align with From \(fromDomain) (\(modeText))")
            case .sharedParent(let parent):
                return (alignment, "\(what) aligns with From \(fromDomain) only if \(parent) is their organizational domain (not a public suffix)")
            }
        }
        let (dkim, dkimText) = line("DKIM d=", dkimDomain, mode: record.dkimAlignment)
        let (spf, spfText) = line("SPF MAIL FROM", bounceDomain, mode: record.spfAlignment)
        let anyAligned = dkim == .aligned || spf == .aligned
        for (alignment, text, fix) in [(dkim, dkimText, "sign with dkim.domain: \(fromDomain) (or a subdomain of it)"),
                                        (spf, spfText, "set verp.bounce_domain to \(fromDomain) or a subdomain of it")] {
            switch alignment {
            case .aligned?: findings.append(DoctorFinding(.ok, "DMARC", text))
            case .sharedParent?: findings.append(DoctorFinding(.warn, "DMARC", text))
            default: findings.append(DoctorFinding(anyAligned ? .warn : .fail, "DMARC", text + (anyAligned ? "; DMARC rests on the other" : ": DMARC fails"), fix: fix))
            }
        }
        return findings
    }
}
