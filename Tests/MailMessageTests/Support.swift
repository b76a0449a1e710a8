import Foundation
import MailMessage

/// A repeatable generator (SplitMix64) so Message-IDs are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
