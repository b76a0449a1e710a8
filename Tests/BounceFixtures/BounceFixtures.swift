import Campaigns
import Foundation
import MailReports
import TestPeers

/// The real DSNs that scripts/fixtures/make-bounces.sh captured from Postfix and Exim
/// on loopback, and the ARF complaint it writes by hand.
public enum BounceFixtures {
    public static let folder = TestPeers.repositoryRoot.appendingPathComponent("Tests/CampaignsTests/Fixtures/bounces").path
    public static let postfixMbox = folder + "/postfix.mbox"
    public static let postfixMaildir = folder + "/postfix-maildir"
    public static let eximMbox = folder + "/exim.mbox"
    public static let complaint = folder + "/arf-complaint.eml"
    /// The secret the script signed its VERP addresses with.
    public static let verpSecret = "fixture-verp-secret"

    public static func messages(_ path: String) async throws -> [RawMailMessage] {
        let source: any BounceSource = MaildirFolder.isMaildir(path) ? MaildirFolder(path: path) : MboxFile(path: path)
        var messages: [RawMailMessage] = []
        try await source.forEachMessage { messages.append($0) }
        return messages
    }

    public static func report(_ path: String, _ index: Int = 0) async throws -> BounceReport {
        try BounceReport.parse(try await messages(path)[index].bytes)
    }
}

extension BounceReport {
    public var dsn: DeliveryStatusNotification? {
        if case .deliveryStatus(let dsn) = kind { return dsn }
        return nil
    }

    public var feedback: FeedbackReport? {
        if case .feedback(let report) = kind { return report }
        return nil
    }
}
