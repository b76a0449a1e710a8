import Crypto
import Foundation
import MailReports

/// `salvo bounces import`: reads every message of a source, parses it, and records it
/// in the store, one message at a time. A message that cannot be read is reported with
/// its place and skipped; only a source that cannot be read at all stops the import.
public struct BounceImport: Sendable {
    /// Reads VERP tokens back; nil when no secret is configured (matching then uses
    /// Message-IDs and addresses only).
    public var verp: VERPAddress?
    public var recentWindow: TimeInterval = 30 * 86_400
    /// `unsubscribe.mailto`'s address: mail sent to it is an unsubscribe request.
    public var unsubscribeMailto: String?
    /// The unsubscribe secret, to check the token an unsubscribe mail carries; nil
    /// when none is configured (such tokens are then refused, never trusted).
    public var unsubscribeSecret: [UInt8]?

    public init(verp: VERPAddress?, unsubscribeMailto: String? = nil, unsubscribeSecret: [UInt8]? = nil) {
        self.verp = verp
        self.unsubscribeMailto = unsubscribeMailto
        self.unsubscribeSecret = unsubscribeSecret
    }

    /// - Parameters:
    ///   - onMalformed: each message that claims to be a report and cannot be read.
    ///   - onRefused: each unsubscribe mail that unsubscribed nobody, and why.
    public func run(_ source: any BounceSource, into store: any BounceStore, now: @Sendable () -> Date = { Date() },
                    onMalformed: (MalformedBounce) -> Void = { _ in },
                    onRefused: (MalformedBounce) -> Void = { _ in }) async throws -> BounceImportReport {
        var report = BounceImportReport()
        try await source.forEachMessage { message in
            report.read += 1
            let sha256 = Self.sha256(message.bytes)
            let parsed: BounceReport
            do {
                parsed = try BounceReport.parse(message.bytes)
            } catch {
                // Unless it was recorded before (by an older Salvo that read it): then it is done.
                let malformed = MalformedBounce(place: message.place, reason: "\(error)")
                report.malformed.append(malformed)
                onMalformed(malformed)
                return
            }
            if let request = UnsubscribeMail(parsed, mailto: unsubscribeMailto) {
                try await applyUnsubscribe(request, message: message, sha256: sha256, store: store, now: now(),
                                           report: &report, onRefused: onRefused)
                try await source.messageProcessed(message)
                return
            }
            let outcome = try await store.recordBounce(BounceReading(parsed), sha256: sha256, place: message.place,
                                                       matcher: BounceMatcher(verp: verp, recentWindow: recentWindow, now: now()))
            switch outcome {
            case .alreadyProcessed:
                report.alreadyProcessed += 1
            case .recorded(let kind, let unmatched):
                switch kind {
                case .hardBounce: report.hardBounces += 1
                case .softBounce: report.softBounces += 1
                case .complaint: report.complaints += 1
                case .notBounce: report.notBounces += 1
                }
                if unmatched { report.unmatched += 1 }
            }
            try await source.messageProcessed(message)
        }
        return report
    }

    /// Unsubscribes the address an unsubscribe mail names, through `recordUnsubscribe`
    /// as the web link does, then remembers the message. A crash between the two
    /// repeats the unsubscribe on the next import, which changes nothing.
    private func applyUnsubscribe(_ request: UnsubscribeMail, message: RawMailMessage, sha256: String, store: any BounceStore,
                                  now: Date, report: inout BounceImportReport,
                                  onRefused: (MalformedBounce) -> Void) async throws {
        if try await store.bounceMessageRecorded(sha256: sha256) {
            report.alreadyProcessed += 1
            return
        }
        switch try await request.resolve(secret: unsubscribeSecret, mailedCampaign: { try await store.latestCampaign(mailedTo: $0) }) {
        case .unsubscribe(let email, let campaign):
            _ = try await store.recordUnsubscribe(email: email, campaign: campaign, channel: .mailto, now: now)
            report.unsubscribes += 1
            try await store.recordImportedMessage(sha256: sha256, place: message.place, kind: "unsubscribe", now: now)
        case .refused(let reason):
            let refused = MalformedBounce(place: message.place, reason: reason)
            report.refusedUnsubscribes.append(refused)
            onRefused(refused)
            try await store.recordImportedMessage(sha256: sha256, place: message.place, kind: "refused-unsubscribe", now: now)
        }
    }

    /// The message's identity: the same bytes are the same message, wherever read.
    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

/// A message the import skipped, with its place and why: one that claims to be a report
/// and cannot be read, or an unsubscribe mail that unsubscribed nobody.
public struct MalformedBounce: Sendable, Equatable, CustomStringConvertible {
    /// File and message number, or the Maildir file.
    public var place: String
    public var reason: String
    public var description: String { "\(place): \(reason)" }
}

/// What an import did, counted in messages. Every message read is exactly one of hard,
/// soft, complaint, unsubscribe, refused unsubscribe, not a bounce, malformed or
/// already processed; `unmatched` counts the bounces and complaints among them with a
/// recipient that matched no delivery.
public struct BounceImportReport: Sendable, Equatable {
    public var read = 0
    public var hardBounces = 0
    public var softBounces = 0
    public var complaints = 0
    /// Unsubscribe mails that unsubscribed their recipient (or found them unsubscribed).
    public var unsubscribes = 0
    /// Unsubscribe mails that unsubscribed nobody: a forged or altered token, or no
    /// token and a From that Salvo never mailed.
    public var refusedUnsubscribes: [MalformedBounce] = []
    public var notBounces = 0
    public var alreadyProcessed = 0
    public var unmatched = 0
    public var malformed: [MalformedBounce] = []

    public init() {}

    public var summary: String {
        var text = "read \(read) messages: \(hardBounces) hard bounces, \(softBounces) soft, \(complaints) \(complaints == 1 ? "complaint" : "complaints"), \(unsubscribes) \(unsubscribes == 1 ? "unsubscribe" : "unsubscribes"), \(notBounces) not bounces"
        if !refusedUnsubscribes.isEmpty { text += ", \(refusedUnsubscribes.count) refused \(refusedUnsubscribes.count == 1 ? "unsubscribe" : "unsubscribes")" }
        if !malformed.isEmpty { text += ", \(malformed.count) malformed" }
        text += "; \(alreadyProcessed) already processed; \(unmatched) unmatched"
        return text
    }
}
