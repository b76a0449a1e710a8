import Testing
@testable import POP3

@Suite struct POP3URLTests {
    @Test func percentEncodedUserAndDefaultPort() throws {
        let url = try POP3URL("pop3s://bounces%40shop.example@mail.shop.example")
        #expect(url == POP3URL(user: "bounces@shop.example", host: "mail.shop.example", port: 995))
        #expect(url.description == "pop3s://bounces%40shop.example@mail.shop.example:995")
    }

    @Test func explicitPortIPv6AndAnUnencodedAt() throws {
        #expect(try POP3URL("POP3S://bounces@127.0.0.1:10995/") == POP3URL(user: "bounces", host: "127.0.0.1", port: 10995))
        #expect(try POP3URL("pop3s://u@[::1]:995").server == "[::1]:995")
        #expect(try POP3URL("pop3s://bounces@shop.example@mail.shop.example").user == "bounces@shop.example")
    }

    @Test(arguments: [
        ("pop3://u@host", "pop3:// would send the password in clear text"),
        ("imaps://u@host", "scheme \"imaps\" is not pop3s"),
        ("mail.shop.example", "no scheme"),
        ("pop3s://host", "no user"),
        ("pop3s://u:secret@host", "a password in the address"),
        ("pop3s://u@", "no host"),
        ("pop3s://u@host:99999", "the port \"99999\" is not a number from 1 to 65535"),
        ("pop3s://u@host:pop", "the port \"pop\""),
        ("pop3s://u@host/INBOX", "a path, query or fragment"),
        ("pop3s://bad%4@host", "badly percent-encoded"),
        ("pop3s://a%0D%0ADELE%201@host", "control characters"),
        ("pop3s://u@ho st", "characters a host name cannot have"),
    ])
    func invalidAddressesSayWhatIsWrong(address: String, expected: String) {
        #expect {
            try POP3URL(address)
        } throws: { error in
            guard let error = error as? POP3Error, error.code == .invalidURL else { return false }
            return error.description.contains(expected) && error.description.contains(address)
        }
    }

    @Test func mailboxNeverShowsThePassword() throws {
        let mailbox = try POP3Mailbox(url: "pop3s://u@host", password: "s3cret")
        #expect(!"\(mailbox)".contains("s3cret"))
        #expect(throws: POP3Error.self) { try POP3Mailbox(url: "pop3s://u@host", password: "") }
    }
}
