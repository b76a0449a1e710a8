import BounceFixtures
@testable import MailReports
import Foundation
import Testing

@Suite struct BounceParserTests {
    @Test func postfixHardBounceToAVERPAddress() async throws {
        let report = try await BounceFixtures.report(BounceFixtures.postfixMbox, 0)
        let dsn = try #require(report.dsn)
        #expect(report.envelopeRecipients.first?.hasPrefix("bounces+1-") == true)
        #expect(dsn.reportingMTA == "mta.postfix.test")
        #expect(dsn.originalMessageID == "<fixture-1@shop.test>")
        #expect(dsn.originalReturnPath == report.envelopeRecipients.first)
        #expect(dsn.recipients.count == 1)
        let recipient = dsn.recipients[0]
        #expect(recipient.finalRecipient == "ann@bad.test")
        #expect(recipient.originalRecipient == "ann@bad.test")
        #expect(recipient.action == .failed)
        #expect(recipient.status == "5.1.1")
        #expect(recipient.isHardBounce)
        #expect(recipient.smtpCode == 550)
        #expect(recipient.remoteMTA == "127.0.0.1")
        // Folded over two lines by Postfix; unfolded with one space.
        #expect(recipient.diagnosticCode == "550 5.1.1 <user>: Recipient address rejected: User unknown in virtual mailbox table")
    }

    @Test func postfixDelayWarningReturnsHeadersOnly() async throws {
        let report = try await BounceFixtures.report(BounceFixtures.postfixMbox, 1)
        let dsn = try #require(report.dsn)
        #expect(dsn.recipients.map(\.action) == [.delayed])
        #expect(dsn.recipients[0].status == "4.2.2")
        #expect(!dsn.recipients[0].isHardBounce)
        // text/rfc822-headers, not the whole message.
        #expect(dsn.originalMessageID == "<fixture-2@shop.test>")
    }

    @Test func postfixReportAboutTwoRecipients() async throws {
        let dsn = try #require(try await BounceFixtures.report(BounceFixtures.postfixMbox, 2).dsn)
        #expect(dsn.recipients.map(\.finalRecipient) == ["cat@bad.test", "zoe@bad.test"])
        #expect(dsn.recipients.allSatisfy { $0.isHardBounce })
        #expect(dsn.originalMessageID == "<fixture-3@shop.test>")
    }

    @Test func postfixMaildirAndEximMbox() async throws {
        let maildir = try await BounceFixtures.messages(BounceFixtures.postfixMaildir)
        #expect(maildir.count == 2)
        #expect(maildir.allSatisfy { $0.place.contains("postfix-maildir/new/") })
        let finals = try maildir.map { try #require(BounceReport.parse($0.bytes).dsn).recipients[0].finalRecipient }
        #expect(Set(finals) == ["eve@bad.test", "fay@bad.test"])

        let exim = try await BounceFixtures.messages(BounceFixtures.eximMbox)
        #expect(exim.map(\.place) == ["exim.mbox message 1", "exim.mbox message 2"])
        // Exim's queue run returns them in either order: take the one sent with VERP.
        let reports = try exim.map { try BounceReport.parse($0.bytes) }
        let first = try #require(reports.first { $0.envelopeRecipients.first?.hasPrefix("bounces+6-") == true })
        let dsn = try #require(first.dsn)
        #expect(dsn.reportingMTA == "mta.exim.test")
        // Exim reports 5.0.0 whatever the server's enhanced code: still a hard bounce.
        #expect(dsn.recipients[0].status == "5.0.0" && dsn.recipients[0].isHardBounce)
        #expect(dsn.recipients[0].smtpCode == 550)
        #expect(dsn.originalMessageID == "<fixture-6@shop.test>")
        #expect(Set(reports.compactMap { $0.dsn?.originalMessageID }) == ["<fixture-6@shop.test>", "<fixture-7@shop.test>"])
    }

    @Test func arfComplaint() async throws {
        let report = try await BounceFixtures.report(BounceFixtures.complaint)
        let feedback = try #require(report.feedback)
        #expect(feedback.feedbackType == "abuse" && feedback.isComplaint)
        #expect(feedback.originalRecipients == ["ivy@example.net"])
        #expect(feedback.originalMailFrom == "news@shop.test")
        #expect(feedback.originalMessageID == "<fixture-8@shop.test>")
        #expect(feedback.reporter == "mail.example.net")
    }

    /// The same Postfix DSN with CRLF line ends, its delivery-status part base64-encoded
    /// and the whole report forwarded inside multipart/mixed: read the same.
    @Test func crlfBase64AndNesting() async throws {
        let original = String(decoding: try await BounceFixtures.messages(BounceFixtures.postfixMbox)[0].bytes, as: UTF8.self)
        let status = "Reporting-MTA: dns; mta.example\n\nFinal-Recipient: rfc822; ann@bad.test\nAction: failed\nStatus: 5.2.1 (disabled)\nDiagnostic-Code: smtp; 550 5.2.1 disabled\n"
        let base64 = Data(status.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
        let text = """
            To: bounces@shop.test
            Subject: forwarded
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="outer"

            --outer
            Content-Type: text/plain

            See below.
            --outer
            Content-Type: multipart/report; report-type="delivery-status"; boundary=inner

            --inner
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            Caf=C3=A9 could not deliver =
            your message.
            --inner
            Content-Type: message/delivery-status
            Content-Transfer-Encoding: base64

            \(base64)
            --inner
            Content-Type: message/rfc822

            Message-ID: <x@shop.test>
            Subject: hi

            body
            --inner--
            --outer--

            """.replacingOccurrences(of: "\n", with: "\r\n")
        let report = try BounceReport.parse(Array(text.utf8))
        let dsn = try #require(report.dsn)
        #expect(dsn.recipients[0].status == "5.2.1")
        #expect(dsn.recipients[0].diagnosticCode == "550 5.2.1 disabled")
        #expect(dsn.originalMessageID == "<x@shop.test>")
        #expect(report.envelopeRecipients == ["bounces@shop.test"])
        #expect(TransferDecoding.quotedPrintable(Array("Caf=C3=A9 could not deliver =\r\nyour message.".utf8)[...])
                == Array("Café could not deliver your message.".utf8))
        #expect(original.contains("Final-Recipient"))
    }

    /// The sender's own message may be broken (here a multipart without a boundary): the
    /// report around it is still read, and its Message-ID found.
    @Test func aBrokenReturnedMessageDoesNotSpoilTheReport() throws {
        let text = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.test\nAction: failed\nStatus: 5.1.1\n\n--b\nContent-Type: message/rfc822\n\nMessage-ID: <broken@shop.test>\nContent-Type: multipart/mixed\n\nno boundary here\n--b--\n"
        let dsn = try #require(try BounceReport.parse(Array(text.utf8)).dsn)
        #expect(dsn.originalMessageID == "<broken@shop.test>")
        #expect(dsn.recipients.map(\.finalRecipient) == ["a@b.test"])
    }

    @Test func anAutoReplyIsNotABounce() throws {
        let text = "From: ann@bad.test\nTo: news@shop.test\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nBack on Monday.\n"
        #expect(try BounceReport.parse(Array(text.utf8)).kind == .notABounce)
        let receipt = "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n--b\nContent-Type: text/plain\n\nread\n--b--\n"
        #expect(try BounceReport.parse(Array(receipt.utf8)).kind == .notABounce)
    }

    @Test func malformedReportsSayWhy() {
        let noBoundary = "Content-Type: multipart/report; report-type=delivery-status\n\nbody\n"
        #expect(throws: BounceParseError.missingBoundary("multipart/report")) { try BounceReport.parse(Array(noBoundary.utf8)) }
        let noAction = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.test\nStatus: 5.1.1\n--b--\n"
        #expect(throws: BounceParseError.recipientWithoutAction(1)) { try BounceReport.parse(Array(noAction.utf8)) }
        let noStatusPart = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nsorry\n--b--\n"
        #expect(throws: BounceParseError.noDeliveryStatus) { try BounceReport.parse(Array(noStatusPart.utf8)) }
        let badBase64 = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!!\n--b--\n"
        #expect(throws: BounceParseError.badTransferEncoding("message/delivery-status")) { try BounceReport.parse(Array(badBase64.utf8)) }
    }

    @Test func mboxQuotingIsUndone() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mbox-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/quoted.mbox"
        try "preamble\nFrom a@b Mon Jan  1 00:00:00 2026\nSubject: one\n\n>From here\n>>From there\n\nFrom c@d Mon Jan  1 00:00:00 2026\nSubject: two\n\nx\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let messages = try await BounceFixtures.messages(path)
        #expect(messages.map { String(decoding: $0.bytes, as: UTF8.self) } == ["Subject: one\n\nFrom here\n>From there\n", "Subject: two\n\nx\n"])
        #expect(messages.map(\.place) == ["quoted.mbox message 1", "quoted.mbox message 2"])
    }
}
