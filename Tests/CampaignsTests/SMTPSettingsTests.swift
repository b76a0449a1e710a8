@testable import Campaigns
import Foundation
import SMTP
import Testing

/// `smtp:` in salvo.yml: the reply deadlines, read with errors that name the file, the
/// line and the key, and handed to every SMTP session the configuration builds.
@Suite struct SMTPSettingsTests {
    func load(_ text: String) throws -> SalvoConfiguration { try ConfigurationText.load(text) }

    @Test func timeoutsDefaultToRFC5321() throws {
        let timeouts = try load("").smtp.timeouts
        #expect(timeouts.limit(named: "connect") == .seconds(30))
        #expect(timeouts.limit(named: "greeting") == .seconds(300))
        #expect(timeouts.limit(named: "ehlo") == .seconds(300))
        #expect(timeouts.limit(named: "mail") == .seconds(300))
        #expect(timeouts.limit(named: "rcpt") == .seconds(300))
        #expect(timeouts.limit(named: "data") == .seconds(120))
        #expect(timeouts.limit(named: "data_block") == .seconds(180))
        #expect(timeouts.limit(named: "end_of_data") == .seconds(600))
        #expect(timeouts.limit(named: "command") == .seconds(300))
    }

    @Test func timeoutsAreReadAndReachBothSessions() throws {
        let configuration = try load("""
            helo: mail.shop.test
            delivery:
              mode: relay
              relay: { host: relay.test, tls: none }
            smtp:
              timeouts: { connect: 3s, greeting: 4s, ehlo: 5s, mail: 6s, rcpt: 7s, data: 8s, data_block: 9s, end_of_data: 10s, command: 11s, tls_handshake: 12s }
            """)
        let expected = ["connect": 3, "greeting": 4, "ehlo": 5, "mail": 6, "rcpt": 7, "data": 8, "data_block": 9,
                        "end_of_data": 10, "command": 11, "tls_handshake": 12]
        for (name, seconds) in expected {
            #expect(configuration.smtp.timeouts.limit(named: name) == .seconds(seconds), "\(name)")
        }
        #expect(configuration.mxSession().timeouts == configuration.smtp.timeouts)
        #expect(try configuration.relaySession(environment: [:])?.timeouts == configuration.smtp.timeouts)
    }

    @Test(arguments: [
        ("smtp:\n  timeouts:\n    greeting: soon\n", "/etc/salvo/salvo.yml:3: smtp.timeouts.greeting: expected a duration such as 30s, 15m, 4h or 2d, found 'soon'"),
        ("smtp:\n  timeouts:\n    greting: 5m\n", "/etc/salvo/salvo.yml:3: smtp.timeouts.greting: unknown key (expected one of: connect, greeting, ehlo"),
        ("smtp:\n  timeouts:\n    connect: 0s\n", "/etc/salvo/salvo.yml:3: smtp.timeouts.connect: a time limit must be at least 1s, found '0s'"),
        ("smtp:\n  timeout: {}\n", "/etc/salvo/salvo.yml:2: smtp.timeout: unknown key (expected one of: timeouts)"),
    ])
    func errorsNameFileLineAndKey(text: String, expected: String) {
        ConfigurationText.expectRefused(text, expected)
    }
}

