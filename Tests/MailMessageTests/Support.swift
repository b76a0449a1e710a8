import Foundation
import MailMessage
import TestPeers

/// 25 Nov 2026 11:47:11 UTC.
let fixedDate = Date(timeIntervalSince1970: 1_795_607_231)

func sampleMessage(
    toName: String? = "Ann Okafor", toAddress: String = "ann@example.org", subject: String = "Ann, spring deals",
    text: String? = "Hello Ann,\nfresh deals inside.\n", html: String? = "<p>Hello <b>Ann</b></p>",
    attachments: [Attachment] = [], listName: String = "customers", campaign: String = "spring-sale",
    unsubscribeURL: String = "https://shop.example/u/abc", seed: UInt64 = 1
) throws -> Message {
    var generator = SeededGenerator(seed: seed)
    return Message(
        from: try Mailbox(parsing: "Shop <news@shop.example>"),
        to: try Mailbox(displayName: toName, address: toAddress),
        subject: subject,
        date: fixedDate,
        messageID: MessageID.generate(domain: "shop.example", using: &generator),
        listID: ListID(list: listName, domain: "shop.example"),
        unsubscribe: ListUnsubscribe(url: unsubscribeURL, mailto: try Mailbox(address: "unsubscribe@shop.example")),
        trace: CampaignTrace(campaign: campaign, recipient: "42"),
        text: text,
        html: html,
        attachments: attachments
    )
}
