import Campaigns
import MailReports
import Foundation
import GRDB
import Testing
import TestPeers

/// Tracking as a user meets it: a campaign with `track:` sent to smtp-sink, the links of
/// the message the sink received fetched from the real `salvo serve`, and what
/// `salvo status`, `salvo report` and `salvo report --links` show afterwards.
@Suite(.serialized) struct TrackingCommandTests {
    static let browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

    /// The decoded HTML part of each received message, by recipient address.
    static func htmlParts(_ transactions: [SinkTransaction]) throws -> [String: String] {
        var parts: [String: String] = [:]
        for transaction in transactions {
            let entity = try MIMEEntity(parsing: transaction.message)
            guard let html = entity.allParts.first(where: { $0.contentType.mimeType == "text/html" }) else { continue }
            let text = String(decoding: try html.decodedBody(), as: UTF8.self)
            for recipient in transaction.rcptArgs { parts[String(recipient.dropFirst().dropLast())] = text }
        }
        return parts
    }

    /// The paths of `html`'s links under `https://example.com` + `prefix`.
    static func paths(_ html: String, _ prefix: String) -> [String] {
        html.components(separatedBy: "https://example.com" + prefix).dropFirst().map { prefix + String($0.prefix { $0 != "\"" }) }
    }

    /// Every spelling of `address` a token could hide it in.
    static func encodings(of address: String) -> [String] {
        var forms = [address.lowercased(), address.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!.lowercased(),
                     address.utf8.map { String(format: "%02x", $0) }.joined()]
        for pad in ["", "x", "xy"] {
            let encoded = Data((pad + address).utf8).base64EncodedString()
            let core = String(encoded.dropFirst(pad.isEmpty ? 0 : pad.count + 1).dropLast(3))
            forms += [core.lowercased(), core.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").lowercased()]
        }
        return forms.filter { $0.count >= 8 }
    }

    @Test func theLinksOfAReceivedMessageLeadThroughServeAndShowInStatusAndReport() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await ServeCommandTests.servedProject(sinkPort: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let campaign = try String(contentsOfFile: dir + "/welcome.yml", encoding: .utf8)
        try (campaign + "track: { opens: true, clicks: true }\n").write(toFile: dir + "/welcome.yml", atomically: true, encoding: .utf8)
        let template = try String(contentsOfFile: dir + "/templates/welcome.html.mustache", encoding: .utf8)
        try template.replacingOccurrences(of: "<p style=\"font-size: 12px\">", with: """
            <p><a href="https://shop.example.com/deals?country={{country}}">Deals</a>
            <a href="https://shop.example.com/raw" data-notrack>Untracked</a>
            <a href="{{view_url}}">View in your browser</a></p>
            <p style="font-size: 12px">
            """).write(toFile: dir + "/templates/welcome.html.mustache", atomically: true, encoding: .utf8)
        let env = ["SALVO_UNSUBSCRIBE_SECRET": ServeCommandTests.secret]
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        let created = try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try await SalvoBinary.run(["campaign", "show", "welcome"], in: dir).stdout.contains("track:        opens, clicks"))
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: env)
        #expect(sent.status == 0, "\(sent.stderr)")

        let parts = try Self.htmlParts(try sink.transactions())
        #expect(parts.count == 4)
        let ada = try #require(parts["ada.okafor@example.com"]), kwame = try #require(parts["kwame.mensah@example.net"])
        for (address, html) in parts {
            // One tracked link, the untracked one as written, the pixel, the view link,
            // the unsubscribe link untouched.
            #expect(Self.paths(html, "/c/").count == 1 && Self.paths(html, "/o/").count == 1 && Self.paths(html, "/v/").count == 1, "\(html)")
            #expect(html.contains("href=\"https://shop.example.com/raw\""))
            #expect(Self.paths(html, "/u/").count == 1)
            for token in ["/c/", "/o/", "/v/", "/u/"].flatMap({ Self.paths(html, $0) }) {
                for form in Self.encodings(of: address) { #expect(!token.lowercased().contains(form), "\(token) holds \(form)") }
            }
        }
        // The store's clock says the messages went out an hour ago: the fetches below are
        // a reader's, not the scanners' of the first seconds.
        #expect(try await SalvoBinary.run(["status", "welcome"], in: dir).status == 0)
        let store = try SalvoStore(path: dir + "/salvo.db")
        try await store.writer.write { db in try db.execute(sql: "UPDATE deliveries SET last_attempt_at = last_attempt_at - 3600") }

        let server = try await ServeCommandTests.Server(dir: dir)
        let client = WebClient(port: server.port)
        let adaClick = Self.paths(ada, "/c/")[0], kwameClick = Self.paths(kwame, "/c/")[0]
        let answers = try await client.send([
            .init("GET", adaClick, headers: ["User-Agent": Self.browser]),
            .init("HEAD", kwameClick, headers: ["User-Agent": Self.browser]),
            .init("GET", Self.paths(ada, "/o/")[0], headers: ["User-Agent": Self.browser]),
            .init("GET", Self.paths(kwame, "/v/")[0], headers: ["User-Agent": Self.browser]),
        ])
        #expect(answers.map(\.status) == [302, 302, 200, 200])
        #expect(answers[0].headers["location"] == "https://shop.example.com/deals?country=NG")
        #expect(answers[1].headers["location"] == "https://shop.example.com/deals?country=GH")
        #expect(answers[0].headers["referrer-policy"] == "no-referrer")
        #expect(answers[2].headers["content-type"] == "image/gif")
        #expect(answers[3].body.contains("Welcome, Kwame!") && answers[3].body.contains("https://example.com\(kwameClick)"))
        // Kwame's token edited to lead elsewhere: the 404 page.
        var edited = Array(kwameClick)
        edited[edited.count - 3] = edited[edited.count - 3] == "Q" ? "R" : "Q"
        #expect(try await client.send(.init("GET", String(edited), headers: ["User-Agent": Self.browser])).status == 404)
        #expect(server.stop() == 0)
        for (address, _) in parts { #expect(!server.log.contains(address)) }

        let status = try await SalvoBinary.run(["status", "welcome"], in: dir)
        #expect(status.stdout.contains("opens: 1 unique (1 human / 0 machine only)"), "\(status.stdout)")
        #expect(status.stdout.contains("clicks: 2 unique (1 human / 1 machine only)"), "\(status.stdout)")
        let json = try await SalvoBinary.run(["status", "welcome", "--json"], in: dir)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["opens"] as? [String: Int] == ["unique": 1, "human": 1, "machine": 0])
        #expect(object["clicks"] as? [String: Int] == ["unique": 2, "human": 1, "machine": 1])

        let csv = try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir)
        let lines = csv.stdout.components(separatedBy: "\r\n")
        #expect(lines[0].hasSuffix(",opened_at,clicked_at,unsubscribed_at,suppressed_by"))
        let adaCells = try #require(lines.first { $0.hasPrefix("ada.okafor@example.com,") }).split(separator: ",", omittingEmptySubsequences: false)
        let kwameCells = try #require(lines.first { $0.hasPrefix("kwame.mensah@example.net,") }).split(separator: ",", omittingEmptySubsequences: false)
        #expect(adaCells.dropLast(2).suffix(2).allSatisfy { $0.hasSuffix("Z") }, "\(adaCells)")
        #expect(kwameCells.dropLast(2).suffix(2) == ["", ""], "\(kwameCells)")
        let reportJSON = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(reportJSON.stdout.utf8)) as? [[String: Any]])
        #expect(rows.first { $0["email"] as? String == "ada.okafor@example.com" }?["clicked_at"] is String)

        let links = try await SalvoBinary.run(["report", "welcome", "--links"], in: dir)
        #expect(links.status == 0, "\(links.stderr)")
        #expect(links.stdout.contains("link  human  machine  url"))
        // One link, its target as Ada's message had it (the first click's).
        #expect(links.stdout.contains("0     1      1        https://shop.example.com/deals?country="), "\(links.stdout)")
        let linksJSON = try await SalvoBinary.run(["report", "welcome", "--links", "--json"], in: dir)
        let linkRows = try #require(try JSONSerialization.jsonObject(with: Data(linksJSON.stdout.utf8)) as? [[String: Any]])
        #expect(linkRows.count == 1 && linkRows[0]["human"] as? Int == 1 && linkRows[0]["machine"] as? Int == 1)
    }
}
