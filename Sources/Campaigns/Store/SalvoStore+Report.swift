import Delivery
import Foundation
import GRDB

/// One recipient's line of a campaign's delivery report (the columns of the report CSV).
public struct DeliveryReportRow: Sendable, Equatable {
    public var email: String
    public var status: String
    public var attempts: Int
    public var smtpCode: Int?
    public var enhancedCode: String?
    public var response: String?
    public var mxHost: String?
    public var messageID: String?
    public var firstAttemptAt: Date?
    public var lastAttemptAt: Date?
    /// The TLS version of the last session that reached a server (the one `mxHost`
    /// names); nil when it was in clear text or no server was reached.
    public var tlsVersion: String? = nil
    /// Whether that session's certificate verified; nil without TLS.
    public var tlsVerified: Bool? = nil
    /// The first open and click that looked like a person's (`track:`); nil without one.
    public var openedAt: Date? = nil
    public var clickedAt: Date? = nil
    /// When the recipient unsubscribed from this campaign (its link, page or mailto), unless
    /// undone; nil otherwise.
    public var unsubscribedAt: Date? = nil
    /// For a `suppressed` delivery, which suppression applied: `global` or `list`.
    public var suppressedBy: String? = nil

    public init(email: String, status: String, attempts: Int, smtpCode: Int?, enhancedCode: String?, response: String?,
                mxHost: String?, messageID: String?, firstAttemptAt: Date?, lastAttemptAt: Date?, tlsVersion: String? = nil,
                tlsVerified: Bool? = nil, openedAt: Date? = nil, clickedAt: Date? = nil, unsubscribedAt: Date? = nil,
                suppressedBy: String? = nil) {
        self.email = email
        self.status = status
        self.attempts = attempts
        self.smtpCode = smtpCode
        self.enhancedCode = enhancedCode
        self.response = response
        self.mxHost = mxHost
        self.messageID = messageID
        self.firstAttemptAt = firstAttemptAt
        self.lastAttemptAt = lastAttemptAt
        self.tlsVersion = tlsVersion
        self.tlsVerified = tlsVerified
        self.openedAt = openedAt
        self.clickedAt = clickedAt
        self.unsubscribedAt = unsubscribedAt
        self.suppressedBy = suppressedBy
    }
}

extension SalvoStore {
    /// Every delivery of a campaign, in delivery order.
    public func deliveryReport(campaign name: String) throws -> [DeliveryReportRow] {
        settleSendLog()
        return try writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let events = try firstEvents(campaign: id, in: db)
            return try Row.fetchAll(db, sql: """
                SELECT d.id, d.email, d.state, d.attempts, d.last_code, d.last_enhanced_code, d.last_response, d.mx_host,
                       d.message_id, d.first_attempt_at, d.last_attempt_at, d.tls_version, d.tls_verified, d.suppressed_by,
                       u.at AS unsubscribed_at
                FROM deliveries d
                LEFT JOIN unsubscribes u ON u.campaign = ? AND u.email = d.email COLLATE NOCASE AND u.undone_at IS NULL
                WHERE d.campaign_id = ? ORDER BY d.id
                """, arguments: [name, id]).map { row in
                DeliveryReportRow(email: row["email"], status: row["state"], attempts: row["attempts"], smtpCode: row["last_code"],
                                  enhancedCode: row["last_enhanced_code"], response: row["last_response"], mxHost: row["mx_host"],
                                  messageID: row["message_id"],
                                  firstAttemptAt: (row["first_attempt_at"] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) },
                                  lastAttemptAt: (row["last_attempt_at"] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) },
                                  tlsVersion: row["tls_version"], tlsVerified: row["tls_verified"],
                                  openedAt: events[row["id"]]?.openedAt, clickedAt: events[row["id"]]?.clickedAt,
                                  unsubscribedAt: (row["unsubscribed_at"] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) },
                                  suppressedBy: row["suppressed_by"])
            }
        }
    }
}

/// What `salvo status` shows beyond the counts per state.
public struct CampaignStatus: Sendable, Equatable {
    public var name: String
    public var state: String
    public var reason: String?
    public var counts: DeliveryCounts
    /// The domains with the most deliveries, with their count.
    public var topDomains: [(domain: String, count: Int)]
    /// The most frequent last reply codes ("250", "451 4.7.0", …), with their count.
    public var topReplies: [(reply: String, count: Int)]
    /// Recipients who complained about the campaign's message (`salvo bounces import`).
    public var complaints = 0

    public init(name: String, state: String, reason: String?, counts: DeliveryCounts,
                topDomains: [(domain: String, count: Int)], topReplies: [(reply: String, count: Int)], complaints: Int = 0) {
        self.name = name
        self.state = state
        self.reason = reason
        self.counts = counts
        self.topDomains = topDomains
        self.topReplies = topReplies
        self.complaints = complaints
    }

    public static func == (a: CampaignStatus, b: CampaignStatus) -> Bool {
        a.name == b.name && a.state == b.state && a.counts == b.counts && a.complaints == b.complaints
            && a.topDomains.map(\.domain) == b.topDomains.map(\.domain) && a.topReplies.map(\.reply) == b.topReplies.map(\.reply)
    }
}

extension SalvoStore {
    public func status(campaign name: String, top: Int = 5) throws -> CampaignStatus {
        let counts = try deliveryCounts(campaign: name)
        return try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, state, state_reason FROM campaigns WHERE name = ?", arguments: [name]) else {
                throw StoreError.campaignNotFound(name)
            }
            let id: Int64 = row["id"]
            let domains = try Row.fetchAll(db, sql: """
                SELECT domain, COUNT(*) AS n FROM deliveries WHERE campaign_id = ? GROUP BY domain ORDER BY n DESC, domain LIMIT ?
                """, arguments: [id, top]).map { (domain: $0["domain"] as String, count: $0["n"] as Int) }
            let replies = try Row.fetchAll(db, sql: """
                SELECT last_code || COALESCE(' ' || last_enhanced_code, '') AS reply, COUNT(*) AS n FROM deliveries
                WHERE campaign_id = ? AND last_code IS NOT NULL GROUP BY reply ORDER BY n DESC, reply LIMIT ?
                """, arguments: [id, top]).map { (reply: $0["reply"] as String, count: $0["n"] as Int) }
            let complaints = try Int.fetchOne(db, sql: """
                SELECT COUNT(DISTINCT e.delivery_id) FROM bounce_events e JOIN deliveries d ON d.id = e.delivery_id
                WHERE d.campaign_id = ? AND e.kind = 'complaint'
                """, arguments: [id]) ?? 0
            var status = CampaignStatus(name: name, state: row["state"], reason: row["state_reason"], counts: counts,
                                        topDomains: domains, topReplies: replies)
            status.complaints = complaints
            return status
        }
    }
}

/// The report CSV of DESIGN.md: a header row, then one row per recipient; times in
/// RFC 3339 UTC; quoted per RFC 4180.
///
/// A report is opened in spreadsheets, and a cell that starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return is run there as a formula (OWASP's "CSV injection"): an
/// address or a server's reply is text anyone can choose. Such a cell is written with a
/// `'` in front, which spreadsheets show as text and do not display.
public enum DeliveryReportCSV {
    public static let header = "email,status,attempts,smtp_code,enhanced_code,response,mx_host,message_id,first_attempt_at,last_attempt_at,tls,tls_verified,opened_at,clicked_at,unsubscribed_at,suppressed_by"

    public static func line(_ row: DeliveryReportRow) -> String {
        [row.email, row.status, String(row.attempts), row.smtpCode.map(String.init) ?? "", row.enhancedCode ?? "",
         row.response ?? "", row.mxHost ?? "", row.messageID ?? "", ReportTime.rfc3339(row.firstAttemptAt),
         ReportTime.rfc3339(row.lastAttemptAt), row.tlsVersion ?? "", row.tlsVerified.map { $0 ? "true" : "false" } ?? "",
         ReportTime.rfc3339(row.openedAt), ReportTime.rfc3339(row.clickedAt), ReportTime.rfc3339(row.unsubscribedAt), row.suppressedBy ?? ""]
            .map { CSVField.quote(defused($0)) }.joined(separator: ",")
    }

    /// `text` as a spreadsheet shows it without running it.
    public static func defused(_ text: String) -> String {
        guard let first = text.utf8.first else { return text }
        switch first {
        case UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D: return "'" + text
        default: return text
        }
    }
}

/// The report as JSON: an array of one object per recipient, keys as the CSV's columns
/// (sorted), absent values as null, one object per line.
///
/// Written by hand, straight from the rows, rather than through `JSONSerialization`:
/// building 20,000 dictionaries of `Any`, bridging them to Foundation objects and sorting
/// each one's keys while pretty-printing took about four times the CPU of writing the CSV
/// of the same rows; this takes about the same as the CSV.
public enum DeliveryReportJSON {
    public static func write(_ rows: [DeliveryReportRow], to output: (Data) throws -> Void) rethrows {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        out.append(UInt8(ascii: "["))
        for (index, row) in rows.enumerated() {
            out.append(contentsOf: index == 0 ? Array("\n  {".utf8) : Array(",\n  {".utf8))
            func key(_ name: String, first: Bool = false) {
                if !first { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(name.utf8, to: &out)
                out.append(UInt8(ascii: ":"))
            }
            func string(_ value: String?) {
                if let value { JSONText.appendString(value.utf8, to: &out) } else { out.append(contentsOf: Array("null".utf8)) }
            }
            key("attempts", first: true); out.append(contentsOf: String(row.attempts).utf8)
            key("clicked_at"); string(row.clickedAt.map { ReportTime.rfc3339($0) })
            key("email"); string(row.email)
            key("enhanced_code"); string(row.enhancedCode)
            key("first_attempt_at"); string(row.firstAttemptAt.map { ReportTime.rfc3339($0) })
            key("last_attempt_at"); string(row.lastAttemptAt.map { ReportTime.rfc3339($0) })
            key("message_id"); string(row.messageID)
            key("mx_host"); string(row.mxHost)
            key("opened_at"); string(row.openedAt.map { ReportTime.rfc3339($0) })
            key("response"); string(row.response)
            key("smtp_code"); if let code = row.smtpCode { out.append(contentsOf: String(code).utf8) } else { string(nil) }
            key("status"); string(row.status)
            key("suppressed_by"); string(row.suppressedBy)
            key("tls"); string(row.tlsVersion)
            key("tls_verified"); out.append(contentsOf: Array((row.tlsVerified.map { $0 ? "true" : "false" } ?? "null").utf8))
            key("unsubscribed_at"); string(row.unsubscribedAt.map { ReportTime.rfc3339($0) })
            out.append(UInt8(ascii: "}"))
            if out.count >= 1 << 16 {
                try output(Data(out))
                out.removeAll(keepingCapacity: true)
            }
        }
        out.append(contentsOf: rows.isEmpty ? Array("]\n".utf8) : Array("\n]\n".utf8))
        try output(Data(out))
    }
}

/// RFC 3339 UTC times with second precision, as the report writes them.
enum ReportTime {
    static func rfc3339(_ date: Date?) -> String {
        guard let date else { return "" }
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
