@testable import Campaigns
import Foundation
import TestPeers

/// The real DSNs that scripts/fixtures/make-bounces.sh captured from Postfix and Exim
/// on loopback, and the ARF complaint it writes by hand.
enum BounceFixtures {
    static let folder = TestPeers.repositoryRoot.appendingPathComponent("Tests/CampaignsTests/Fixtures/bounces").path
    static let postfixMbox = folder + "/postfix.mbox"
    static let postfixMaildir = folder + "/postfix-maildir"
    static let eximMbox = folder + "/exim.mbox"
    static let complaint = folder + "/arf-complaint.eml"
    /// The secret the script signed its VERP addresses with.
    static let verpSecret = "fixture-verp-secret"

    static func messages(_ path: String) async throws -> [RawMailMessage] {
        let source: any BounceSource = MaildirFolder.isMaildir(path) ? MaildirFolder(path: path) : MboxFile(path: path)
        var messages: [RawMailMessage] = []
        try await source.forEachMessage { messages.append($0) }
        return messages
    }

    static func report(_ path: String, _ index: Int = 0) async throws -> BounceReport {
        try BounceReport.parse(try await messages(path)[index].bytes)
    }
}

extension BounceReport {
    var dsn: DeliveryStatusNotification? {
        if case .deliveryStatus(let dsn) = kind { return dsn }
        return nil
    }

    var feedback: FeedbackReport? {
        if case .feedback(let report) = kind { return report }
        return nil
    }
}
