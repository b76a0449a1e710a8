import Foundation
import MailMessage
import MailReports

/// A mail in the bounce mailbox that asks to unsubscribe: what a mail client sends for
/// the mailto target of List-Unsubscribe (`UnsubscribeMailto`).
///
/// A message is one when it is not a report and either its Subject is
/// `unsubscribe TOKEN` (wherever it was addressed), or it was sent to
/// `unsubscribe.mailto` with a Subject of `unsubscribe` alone or any other. The token
/// decides whose address goes: the recipient it was made for, not whoever is in From.
/// Without a token, From is taken only when Salvo has mailed that address (the caller
/// looks it up), since anyone can write any From.
enum UnsubscribeMail: Equatable {
    /// The subject carries this token (not yet verified).
    case token(String)
    /// Sent to the mailto address without a token; From, when the message has one.
    case withoutToken(from: String?)

    /// What `report` asks, or nil when it is not an unsubscribe request.
    /// - Parameter mailto: the address of `unsubscribe.mailto`, if configured.
    init?(_ report: BounceReport, mailto: String?) {
        guard case .notABounce = report.kind else { return nil }
        let request = report.subject.flatMap(UnsubscribeMailto.request(inSubject:))
        if let token = request?.token {
            self = .token(token)
            return
        }
        guard let mailto, report.envelopeRecipients.contains(where: { $0.caseInsensitiveCompare(mailto) == .orderedSame }) else {
            return nil
        }
        self = .withoutToken(from: report.from)
    }

    /// Whose unsubscribe it is, once the token is checked with `secret` (or From
    /// looked up with `mailedCampaign`): the address and the campaign, or why nobody.
    func resolve(secret: [UInt8]?, mailedCampaign: (String) async throws -> (email: String, campaign: String)?) async rethrows -> Resolution {
        switch self {
        case .token(let token):
            guard let secret, !secret.isEmpty else {
                return .refused("its unsubscribe token cannot be checked: no usable unsubscribe secret (unsubscribe.secret_env or unsubscribe.secret_file)")
            }
            guard token.utf8.count <= Self.maxTokenLength, let found = UnsubscribeToken.verify(token, secret: secret) else {
                return .refused("its unsubscribe token is forged, altered or truncated: nobody unsubscribed")
            }
            return .unsubscribe(email: found.recipient, campaign: found.campaign)
        case .withoutToken(let from):
            guard let from else { return .refused("an unsubscribe mail without a token or a From address") }
            guard let mailed = try await mailedCampaign(from) else {
                return .refused("an unsubscribe mail without a token from \(from), an address Salvo has not mailed")
            }
            return .unsubscribe(email: mailed.email, campaign: mailed.campaign)
        }
    }

    enum Resolution: Equatable {
        case unsubscribe(email: String, campaign: String)
        case refused(String)
    }

    /// The bound `salvo serve` puts on a token in a link: longer is not one of ours,
    /// and not worth decrypting.
    static let maxTokenLength = 1024
}

extension SalvoConfiguration {
    /// The address of `unsubscribe.mailto` (written `a@b` or `Name <a@b>`); nil when it
    /// is not set or not an address.
    public func unsubscribeMailtoAddress() -> String? {
        guard let text = unsubscribe.mailto, let mailbox = try? Mailbox(parsing: text) else { return nil }
        return "\(mailbox.localPart)@\(mailbox.domain)"
    }
}
