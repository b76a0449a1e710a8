import Foundation
import Testing
import TestPeers

/// `salvo send` and `salvo run` say once, at the start, when the EHLO name is not fully
/// qualified, and say nothing when it is.
@Suite struct HeloWarningCommandTests {
    static func warnings(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").filter { $0.hasPrefix("warning: the EHLO name") }.map(String.init)
    }

    @Test func aNameWithoutADotIsWarnedAboutOnceAndAQualifiedOneIsNot() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("# helo: mail.example.com", "helo: mailhost"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)
        let secret = ["SALVO_UNSUBSCRIBE_SECRET": "helo-test-helo-test-helo-test-helo-test"]

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(Self.warnings(sent.stderr).count == 1, "\(sent.stderr)")
        #expect(Self.warnings(sent.stderr).first?.contains("'mailhost' (helo)") == true, "\(sent.stderr)")
        #expect(try sink.transactions().compactMap(\.heloArgs).allSatisfy { $0 == "mailhost" })

        let run = try await SalvoBinary.run(["run"], in: dir, environment: secret)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(Self.warnings(run.stderr).count == 1, "\(run.stderr)")

        var config = try String(contentsOfFile: dir + "/salvo.yml", encoding: .utf8)
        config = config.replacingOccurrences(of: "helo: mailhost", with: "helo: mail.shop.test")
        try config.write(toFile: dir + "/salvo.yml", atomically: true, encoding: .utf8)
        let qualified = try await SalvoBinary.run(["run"], in: dir, environment: secret)
        #expect(qualified.status == 0, "\(qualified.stderr)")
        #expect(Self.warnings(qualified.stderr).isEmpty, "\(qualified.stderr)")
    }
}
