import Campaigns
import Foundation
import TestPeers
import Testing

/// Suppression per list through the built binary, against smtp-sink: `salvo suppress add
/// --list` keeps an address out of that list's campaigns only, a global one out of
/// every campaign, and `status` and `report` say which applied.
@Suite struct ListSuppressionCommandTests {
    /// A project routed to `port` with the starter list imported twice, as `customers`
    /// and `partners`, and a campaign over each.
    private func project(port: Int) async throws -> String {
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(port)")])
        for list in ["customers", "partners"] {
            #expect(try await SalvoBinary.run(["import", list, "recipients.csv"], in: dir).status == 0)
        }
        let welcome = try String(contentsOfFile: dir + "/welcome.yml", encoding: .utf8)
        try welcome.replacingOccurrences(of: "name: welcome", with: "name: partners-news")
            .replacingOccurrences(of: "list: customers", with: "list: partners")
            .write(toFile: dir + "/partners-news.yml", atomically: true, encoding: .utf8)
        for file in ["welcome.yml", "partners-news.yml"] {
            let created = try await SalvoBinary.run(["campaign", "create", file], in: dir)
            #expect(created.status == 0, "\(created.stderr)")
        }
        return dir
    }

    private func recipients(of campaign: String, dir: String, sink: SMTPSinkPeer) async throws -> [String] {
        let before = try sink.transactions().count
        let sent = try await SalvoBinary.run(["send", campaign], in: dir)
        #expect(sent.status == 0, "\(sent.stderr)")
        return try sink.transactions().dropFirst(before).flatMap(\.rcptArgs).sorted()
    }

    @Test func aListSuppressionSkipsThatListsCampaignOnlyAndStatusAndReportSaySo() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await project(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let added = try await SalvoBinary.run(["suppress", "add", "Yuki.Tanaka@example.net", "--list", "customers"], in: dir)
        #expect(added.status == 0 && added.stdout == "suppressed 1 new addresses (0 were already)\n", "\(added.stderr)")
        #expect(try await SalvoBinary.run(["suppress", "add", "ada.okafor@example.com"], in: dir).status == 0)
        let listed = try await SalvoBinary.run(["suppress", "list", "--list", "customers"], in: dir).stdout
        // The address as written, as the global list keeps it.
        #expect(listed.hasPrefix("email,reason,detail,created_at\nYuki.Tanaka@example.net,manual,"), "\(listed)")

        let customers = try await recipients(of: "welcome", dir: dir, sink: sink)
        #expect(customers == ["<kwame.mensah@example.net>", "<o'brien.sean@example.com>"])
        let partners = try await recipients(of: "partners-news", dir: dir, sink: sink)
        #expect(partners == ["<kwame.mensah@example.net>", "<o'brien.sean@example.com>", "<yuki.tanaka@example.net>"])

        let status = try await SalvoBinary.run(["status", "welcome"], in: dir).stdout
        #expect(status.contains("suppressed: global 1, list 1"), "\(status)")
        let json = try await SalvoBinary.run(["status", "partners-news", "--json"], in: dir).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["suppressed_by"] as? [String: Int] == ["global": 1], "\(json)")

        let report = try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir).stdout
        let lines = report.components(separatedBy: "\r\n")
        #expect(lines[0].hasSuffix(",suppressed_by"))
        #expect(lines.contains { $0.hasPrefix("yuki.tanaka@example.net,suppressed,") && $0.hasSuffix(",list") }, "\(report)")
        #expect(lines.contains { $0.hasPrefix("ada.okafor@example.com,suppressed,") && $0.hasSuffix(",global") }, "\(report)")
        #expect(lines.contains { $0.hasPrefix("kwame.mensah@example.net,sent,") && $0.hasSuffix(",") })

        // Taken off the list's suppressions, the address is for that list's next campaign.
        #expect(try await SalvoBinary.run(["suppress", "remove", "yuki.tanaka@example.net", "--list", "customers"], in: dir).stdout == "removed 1 addresses\n")
        let unknown = try await SalvoBinary.run(["suppress", "add", "x@example.com", "--list", "nope"], in: dir)
        #expect(unknown.status != 0 && unknown.stderr.contains("no list named 'nope'"), "\(unknown.stderr)")
    }
}
