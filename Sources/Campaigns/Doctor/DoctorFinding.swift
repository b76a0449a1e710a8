/// One line of `salvo doctor`: what was checked, what was found, and what to publish
/// when it is wrong.
public struct DoctorFinding: Sendable, Equatable, CustomStringConvertible {
    public enum Status: String, Sendable, Comparable {
        case ok = "OK"
        case warn = "WARN"
        case fail = "FAIL"

        public static func < (lhs: Status, rhs: Status) -> Bool {
            let order: [Status] = [.ok, .warn, .fail]
            return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
        }
    }

    public var status: Status
    /// The check's short name: DKIM, SPF, DMARC, MX, PTR, EHLO, DNSBL.
    public var check: String
    public var found: String
    /// What mends it: the record to publish, or the step to take; nil when nothing is to do.
    public var fix: String?

    public init(_ status: Status, _ check: String, _ found: String, fix: String? = nil) {
        self.status = status
        self.check = check
        self.found = found
        self.fix = fix
    }

    public var description: String {
        let head = "\(status.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(check.padding(toLength: 6, withPad: " ", startingAt: 0)) \(found)"
        guard let fix else { return head }
        return head + "\n             fix: " + fix
    }
}

/// What `salvo doctor` found, and the exit status it stands for: 0 when nothing failed.
public struct DoctorReport: Sendable {
    /// Lines that say what was checked with what: the domains, the resolver, the
    /// sending addresses and where they came from.
    public var context: [String]
    public var findings: [DoctorFinding]

    public init(context: [String], findings: [DoctorFinding]) {
        self.context = context
        self.findings = findings
    }

    public var failed: Bool { findings.contains { $0.status == .fail } }

    public var text: String {
        let counts = [DoctorFinding.Status.ok, .warn, .fail].map { status in
            "\(findings.filter { $0.status == status }.count) \(status.rawValue)"
        }
        return (context + [""] + findings.map(\.description) + ["", counts.joined(separator: ", ")]).joined(separator: "\n")
    }
}
