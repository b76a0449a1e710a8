import ArgumentParser
import Campaigns
import Delivery
import Foundation

/// `salvo pause|resume|cancel CAMPAIGN`: a running `salvo send` sees the change through
/// the store within two seconds, on SQLite or on PostgreSQL (every host's sender).
struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause a campaign: senders stop claiming and hand back what they hold; messages in flight finish.",
        discussion: "Example:\n  salvo pause spring-sale")

    @OptionGroup var options: CampaignArguments

    func run() async throws {
        try await options.global.withDatabase { store in
            try await store.pauseCampaign(named: options.campaign, reason: "paused by salvo pause")
        }
        print("campaign '\(options.campaign)' paused; `salvo resume \(options.campaign)` lets it go on")
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a paused campaign (the next salvo send or salvo run sends it).",
        discussion: "Example:\n  salvo resume spring-sale")

    @OptionGroup var options: CampaignArguments

    func run() async throws {
        try await options.global.withDatabase { store in try await store.resumeCampaign(named: options.campaign) }
        print("campaign '\(options.campaign)' resumed")
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a campaign: every recipient not yet on a connection is cancelled; nothing more is sent.",
        discussion: "Example:\n  salvo cancel spring-sale")

    @OptionGroup var options: CampaignArguments

    func run() async throws {
        let cancelled = try await options.global.withDatabase { store in
            try await store.cancelCampaign(named: options.campaign, now: Date())
        }
        print("campaign '\(options.campaign)' cancelled: \(cancelled) recipients will not be sent")
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a campaign's state, recipients per delivery state, top domains and top replies.",
        discussion: "Examples:\n  salvo status spring-sale\n  salvo status spring-sale --json")

    @OptionGroup var options: CampaignArguments
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let report = try await options.global.withDatabase { store in
            try await store.statusReport(campaign: options.campaign)
        }
        let (status, quota, notices, timing) = (report.status, report.quota, report.notices, report.timing)
        // Before it starts, its audience is what the segment selects today.
        let (audience, unsubscribes, tracking, suppressedBy) = (report.audience, report.unsubscribes, report.tracking, report.suppressedBy)
        let counts = DeliveryState.allCases.map { ($0.rawValue, status.counts.byState[$0] ?? 0) }
        if json {
            let object: [String: Any] = [
                "campaign": status.name, "state": status.state, "reason": status.reason as Any,
                "scheduled_at": timing.scheduledAt?.formatted(.iso8601) as Any,
                "started_at": timing.startedAt?.formatted(.iso8601) as Any,
                "finished_at": timing.finishedAt?.formatted(.iso8601) as Any,
                "next_retry_at": timing.nextRetryAt?.formatted(.iso8601) as Any,
                "audience": audience as Any,
                "counts": Dictionary(uniqueKeysWithValues: counts.filter { $0.1 > 0 }),
                "total": counts.reduce(0) { $0 + $1.1 },
                "top_domains": status.topDomains.map { ["domain": $0.domain, "count": $0.count] },
                "top_replies": status.topReplies.map { ["reply": $0.reply, "count": $0.count] },
                "complaints": status.complaints,
                "suppressed_by": Dictionary(uniqueKeysWithValues: suppressedBy.map { ($0.key.rawValue, $0.value) }),
                "unsubscribes": ["one_click": unsubscribes[.oneClick] ?? 0, "page": unsubscribes[.page] ?? 0, "mail": unsubscribes[.mailto] ?? 0,
                                 "preferences": unsubscribes[.preferences] ?? 0],
                "opens": TrackingLines.json(tracking[.open]), "clicks": TrackingLines.json(tracking[.click]),
                "quota": ["day": quota.day, "used": quota.used, "per_day": quota.perDay as Any],
                "notices": notices.map { notice -> [String: Any] in
                    ["kind": notice.kind.rawValue, "state": notice.state.rawValue, "to": notice.rcptTo as Any,
                     "attempts": notice.attempts, "sent_at": notice.sentAt?.formatted(.iso8601) as Any,
                     "last_error": notice.lastError as Any]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("campaign \(status.name): \(status.state)\(status.reason.map { " (\($0))" } ?? "")")
        if let at = timing.scheduledAt, timing.startedAt == nil { print("scheduled for: \(at.formatted(.iso8601)) (the first salvo run at or after it starts it)") }
        if let at = timing.startedAt { print("started: \(at.formatted(.iso8601))") }
        if let at = timing.finishedAt { print("finished: \(at.formatted(.iso8601))") }
        let total = counts.reduce(0) { $0 + $1.1 }
        if let audience {
            print("audience: \(audience) recipients match its segment today (decided when it starts)")
        } else {
            print("recipients: \(total)")
        }
        for (state, n) in counts where n > 0 { print("  \(state.padding(toLength: 11, withPad: " ", startingAt: 0)) \(n)") }
        if !suppressedBy.isEmpty {
            print("suppressed: " + SuppressionScope.allCases.compactMap { scope in suppressedBy[scope].map { "\(scope.rawValue) \($0)" } }.joined(separator: ", "))
        }
        if !status.topDomains.isEmpty {
            print("top domains:")
            for entry in status.topDomains { print("  \(entry.domain.padding(toLength: 30, withPad: " ", startingAt: 0)) \(entry.count)") }
        }
        if !status.topReplies.isEmpty {
            print("top replies:")
            for entry in status.topReplies { print("  \(entry.reply.padding(toLength: 30, withPad: " ", startingAt: 0)) \(entry.count)") }
        }
        if status.complaints > 0 { print("complaints: \(status.complaints) (suppressed; see salvo bounces import)") }
        if let at = timing.nextRetryAt { print("next retry: \(at.formatted(.iso8601)) (salvo run from cron, or salvo send, sends it)") }
        if !unsubscribes.isEmpty {
            let mail = unsubscribes[.mailto].map { ", mail \($0)" } ?? ""
            let preferences = unsubscribes[.preferences].map { ", preferences page \($0)" } ?? ""
            print("unsubscribes: \(unsubscribes.values.reduce(0, +)) (one-click \(unsubscribes[.oneClick] ?? 0), page \(unsubscribes[.page] ?? 0)\(mail)\(preferences))")
        }
        for line in TrackingLines.text(tracking) { print(line) }
        if let perDay = quota.perDay {
            print("daily quota: \(quota.used) of \(perDay) handed to servers today (\(quota.day) UTC)"
                  + (quota.isSpent ? "; spent, sending resumes at 00:00 UTC" : ""))
        } else {
            print("handed to servers today: \(quota.used) (\(quota.day) UTC; no daily quota configured)")
        }
        for notice in notices {
            let to = notice.rcptTo.map { " to \($0)" } ?? ""
            switch notice.state {
            case .sent: print("notice: \(notice.kind.label) sent\(to) at \(notice.sentAt?.formatted(.iso8601) ?? "?")")
            case .failed: print("notice: \(notice.kind.label)\(to) given up: \(notice.lastError ?? "")")
            case .pending, .sending:
                print("notice: \(notice.kind.label)\(to) waiting (\(notice.attempts) attempts\(notice.lastError.map { "; last: \($0)" } ?? ""))")
            }
        }
        if (status.counts.byState[.unknown] ?? 0) > 0 {
            print("in doubt: \(status.counts.byState[.unknown]!) (their message may have arrived; `salvo send \(options.campaign) --resend-unknown` sends them again)")
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a campaign's delivery report as CSV (or JSON): one row per recipient.",
        discussion: """
            Columns: \(DeliveryReportCSV.header). Times in RFC 3339 UTC; quoted per RFC 4180. \
            A cell starting with =, +, -, @, a tab or a carriage return gets a ' in front, so \
            a spreadsheet shows it as text instead of running it as a formula.

            Examples:
              salvo report spring-sale --csv report.csv
              salvo report spring-sale --csv - | head
              salvo report spring-sale --json
            """)

    @OptionGroup var options: CampaignArguments
    @Option(help: ArgumentHelp("Where to write the CSV (- for standard output).", valueName: "FILE")) var csv: String?
    @Flag(help: "Print the rows as a JSON array instead (keys as the CSV's columns).") var json = false
    @Flag(help: "List each tracked link with its clicks (human / machine) instead of the rows.") var links = false

    func validate() throws {
        if links, csv != nil { throw ValidationError("--links prints the links (as JSON with --json); it writes no CSV") }
        if !links, (csv == nil) == !json { throw ValidationError("give --csv FILE (or -), or --json, or --links") }
    }

    func run() async throws {
        if links {
            let clicks = try await options.global.withDatabase { store in try await store.linkClicks(campaign: options.campaign) }
            print(try TrackingLines.links(clicks, json: json))
            return
        }
        let configuration = try options.global.configuration()
        if let csv, csv != "-" { try OutputFile.check(csv, against: options.global.readFiles(configuration)) }
        let rows = try await options.global.withDatabase { store in try await store.deliveryReport(campaign: options.campaign) }
        if json {
            DeliveryReportJSON.write(rows) { FileHandle.standardOutput.write($0) }
            return
        }
        guard let csv else { return }
        var text = DeliveryReportCSV.header + "\r\n"
        for row in rows { text += DeliveryReportCSV.line(row) + "\r\n" }
        if csv == "-" {
            FileHandle.standardOutput.write(Data(text.utf8))
        } else {
            try Data(text.utf8).write(to: URL(fileURLWithPath: csv))
            print("wrote \(rows.count) rows to \(csv)")
        }
    }
}

struct SuppressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suppress",
        abstract: "The global suppression list (addresses no campaign ever mails), or with --list one list's.",
        subcommands: [Add.self, Import.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suppress addresses.",
            discussion: "Examples:\n  salvo suppress add ann@example.com bob@example.org --reason unsubscribe\n  salvo suppress add ann@example.com --list newsletter")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The addresses.") var emails: [String]
        @Option(help: "manual | hard-bounce | complaint | unsubscribe") var reason: String = "manual"
        @Option(help: ArgumentHelp("Suppress on this list only (campaigns on other lists still mail them).", valueName: "NAME")) var list: String?

        func run() async throws {
            guard let why = SuppressionReason(rawValue: reason) else {
                throw ValidationError("--reason must be one of \(SuppressionReason.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let added = try await global.withDatabase { store in
                if let list { return try await store.suppress(emails, list: list, reason: why, detail: nil, now: Date()) }
                return try await store.suppress(emails, reason: why, detail: nil, now: Date())
            }
            print("suppressed \(added) new addresses (\(emails.count - added) were already)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suppress every address of a CSV file (an email column, an optional reason column).",
            discussion: "Example:\n  salvo suppress import unsubscribes.csv")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CSV file.") var file: String
        @Option(help: ArgumentHelp("The column that holds the address, when it is not called 'email'.", valueName: "NAME")) var emailColumn: String?

        func run() async throws {
            let report = try await global.withDatabase { store in
                try await store.importSuppressions(path: file, emailColumn: emailColumn, reason: .manual, keptRejects: 20, now: Date())
            }
            for reject in report.rejects { printError("\(file):\(reject.line): \(reject.reason)") }
            print(report.summary)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the suppressed addresses (CSV: email, reason, detail, created_at).",
            discussion: "Examples:\n  salvo suppress list > suppressed.csv\n  salvo suppress list --list newsletter")
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("List this list's suppressions instead of the global ones.", valueName: "NAME")) var list: String?

        func run() async throws {
            let (global, forList) = try await self.global.withDatabase { store -> ([Suppression], [ListSuppression]) in
                if let list { return ([], try await store.listSuppressions(list: list)) }
                return (try await store.suppressions(reason: nil), [])
            }
            print("email,reason,detail,created_at")
            for entry in forList {
                print([entry.email, entry.reason, entry.detail ?? "", entry.createdAt.formatted(.iso8601)].map(CSVField.quote).joined(separator: ","))
            }
            for entry in global {
                print([entry.email, entry.reason, entry.detail ?? "", entry.createdAt.formatted(.iso8601)].map(CSVField.quote).joined(separator: ","))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take addresses off the suppression list.",
            discussion: "Examples:\n  salvo suppress remove ann@example.com\n  salvo suppress remove ann@example.com --list newsletter")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The addresses.") var emails: [String]
        @Option(help: ArgumentHelp("Take them off this list's suppressions instead of the global ones.", valueName: "NAME")) var list: String?

        func run() async throws {
            let removed = try await global.withDatabase { store in
                if let list { return try await store.unsuppress(emails, list: list) }
                return try await store.unsuppress(emails)
            }
            print("removed \(removed) addresses")
        }
    }
}
