import Foundation

/// A message Salvo writes to a campaign's sender on its own (its `notify:` address, else
/// its From): a failure summary when the campaign finishes, and the daily quota at 80%
/// and 100%. Notices live in the store's `notices` table, so one that could not be sent
/// is tried again by the next `salvo send` or `salvo run`, and its unique key means it
/// is created, and sent, once.
public struct Notice: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case failureSummary = "failure-summary"
        case quota80 = "quota-80"
        case quota100 = "quota-100"

        /// How warnings and reports name it.
        public var label: String {
            switch self {
            case .failureSummary: "failure summary"
            case .quota80: "daily quota 80% notice"
            case .quota100: "daily quota 100% notice"
            }
        }
    }

    public enum State: String, Sendable {
        case pending
        /// Taken by a sender; another takes it only once the claim is older than the lease.
        case sending
        case sent
        /// Refused for good (5xx, or too many attempts); `lastError` says why.
        case failed
    }

    public var id: Int64
    /// `failure-summary:CAMPAIGN_ID`, `quota-80:DAY`, `quota-100:DAY`.
    public var key: String
    public var kind: Kind
    public var campaignID: Int64?
    /// JSON facts fixed when the notice was queued (the quota's day and count).
    public var detail: String
    public var state: State
    public var mailFrom: String?
    public var rcptTo: String?
    public var messageID: String?
    /// The rendered message (headers and body, CRLF); nil until its first attempt.
    public var message: [UInt8]?
    public var attempts: Int
    public var lastError: String?
    public var createdAt: Date
    public var sentAt: Date?

    public init(id: Int64, key: String, kind: Kind, campaignID: Int64?, detail: String, state: State, mailFrom: String?,
                rcptTo: String?, messageID: String?, message: [UInt8]?, attempts: Int, lastError: String?, createdAt: Date,
                sentAt: Date?) {
        self.id = id
        self.key = key
        self.kind = kind
        self.campaignID = campaignID
        self.detail = detail
        self.state = state
        self.mailFrom = mailFrom
        self.rcptTo = rcptTo
        self.messageID = messageID
        self.message = message
        self.attempts = attempts
        self.lastError = lastError
        self.createdAt = createdAt
        self.sentAt = sentAt
    }
}
