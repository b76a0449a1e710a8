import Campaigns
import Foundation
import GRDB
import MailMessage
import Testing
import TestPeers
import Web

/// `/c/`, `/o/` and `/v/` against the real server on 127.0.0.1 through Python's
/// http.client: where a tracked link leads (its own target only), what an open records,
/// what a machine's request counts as, and the message page.
@Suite struct TrackingRoutesTests {
    static let publicURL = "https://t.shop.example"
    static let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

    /// A store with a tracked campaign started over two recipients, and the messages
    /// behind it.
    static func fixture() throws -> (store: SalvoStore, messages: DeliveryMessages) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracking-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try SalvoStore(path: folder + "/salvo.db")
        try "email,name,code\nann@example.org,Ann,A-1\nbob@example.org,Bob,B-2\n".write(toFile: folder + "/list.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: "customers", path: folder + "/list.csv").run(in: store)
        try """
            <html><body><p>Hello {{name}}</p>
            <a href="https://shop.example/sale?code={{code}}">Sale</a>
            <a href="https://shop.example/about">About</a>
            <a href="{{view_url}}">View in browser</a>
            <a href="{{unsubscribe_url}}">Unsubscribe</a>
            </body></html>
            """.write(toFile: folder + "/t.html.mustache", atomically: true, encoding: .utf8)
        try """
            name: spring-sale
            list: customers
            from: news@shop.example
            subject: Hi
            html: t.html.mustache
            unsubscribe: "https://shop.example/u/{{unsubscribe_token}}"
            track: { opens: true, clicks: true }
            """.write(toFile: folder + "/spring-sale.yml", atomically: true, encoding: .utf8)
        try store.createCampaign(CampaignDefinition.load(path: folder + "/spring-sale.yml"), sourcePath: folder + "/spring-sale.yml")
        try store.startCampaign(named: "spring-sale")
        var configuration = SalvoConfiguration()
        configuration.web.publicURL = publicURL
        let messages = DeliveryMessages(store: store, configuration: configuration,
                                        environment: ["SALVO_UNSUBSCRIBE_SECRET": String(decoding: RunningWebServer.secret, as: UTF8.self)])
        return (store, messages)
    }

    static func deliveryID(_ store: SalvoStore, _ email: String) throws -> Int64 {
        try store.writer.read { db in try Int64.fetchOne(db, sql: "SELECT id FROM deliveries WHERE email = ?", arguments: [email])! }
    }

    /// The HTML part of `email`'s message as it is sent.
    static func html(_ store: SalvoStore, _ messages: DeliveryMessages, _ email: String) async throws -> String {
        let delivery = try #require(try await store.trackedDelivery(id: try deliveryID(store, email)))
        let (composer, recipient) = try await messages.message(of: delivery)
        return try #require(composer.html(for: recipient))
    }

    /// The paths (`/c/TOKEN`…) of `html`'s links to the server under `prefix`.
    static func paths(_ html: String, _ prefix: String) -> [String] {
        html.components(separatedBy: publicURL + prefix).dropFirst().map { prefix + String($0.prefix { $0 != "\"" }) }
    }

    func events(_ store: SalvoStore) throws -> [Row] {
        try store.writer.read { db in try Row.fetchAll(db, sql: "SELECT kind, link_position, link_target, machine, machine_reason FROM tracking_events ORDER BY id") }
    }

    @Test func aTrackedLinkRedirectsToItsOwnTargetAndNowhereElse() async throws {
        let (store, messages) = try Self.fixture()
        let server = try await RunningWebServer.start(store: store, messages: messages)
        let html = try await Self.html(store, messages, "ann@example.org")
        let clicks = Self.paths(html, "/c/")
        #expect(clicks.count == 2, "\(html)")
        let answers = try await server.client.send(clicks.map { .init("GET", $0, headers: ["User-Agent": Self.browser]) })
        #expect(answers.map(\.status) == [302, 302])
        #expect(answers.map { $0.headers["location"] } == ["https://shop.example/sale?code=A-1", "https://shop.example/about"])
        for answer in answers {
            #expect(answer.headers["referrer-policy"] == "no-referrer")
            #expect(answer.body.isEmpty)
        }
        let rows = try events(store)
        #expect(rows.map { $0["link_position"] as Int? } == [0, 1])
        #expect(rows.map { $0["machine"] as Int } == [0, 0])

        // An edited token, a token for a target that is not in the message, a position
        // past its links, another delivery's link: all the 404 page, nothing recorded.
        let maker = TrackingToken.Maker(secret: RunningWebServer.secret)
        let ann = try Self.deliveryID(store, "ann@example.org"), bob = try Self.deliveryID(store, "bob@example.org")
        var edited = Array(clicks[0])
        edited[edited.count - 2] = edited[edited.count - 2] == "A" ? "B" : "A"
        let refused = [
            String(edited),
            "/c/" + maker.click(delivery: ann, position: 0, target: "https://evil.example/"),
            "/c/" + maker.click(delivery: ann, position: 7, target: "https://shop.example/about"),
            // Bob's first link leads to his own code, not Ann's.
            "/c/" + maker.click(delivery: bob, position: 0, target: "https://shop.example/sale?code=A-1"),
            "/c/" + maker.open(delivery: ann),
            "/c/forged", "/c/3.", "/o/" + maker.click(delivery: ann, position: 0, target: "https://shop.example/sale?code=A-1"),
            "/v/" + String(maker.view(delivery: ann).dropLast()) + "x", "/o/" + maker.open(delivery: 999_999),
        ]
        let answers404 = try await server.client.send(refused.map { .init("GET", $0, headers: ["User-Agent": Self.browser]) })
        #expect(answers404.map(\.status) == Array(repeating: 404, count: refused.count))
        #expect(answers404.allSatisfy { $0.headers["location"] == nil && $0.body.contains("id=\"status-404\"") })
        #expect(try events(store).count == 2)
        // Bob's own link does lead to his code.
        let bobs = Self.paths(try await Self.html(store, messages, "bob@example.org"), "/c/")
        #expect(try await server.client.send(.init("GET", bobs[0], headers: ["User-Agent": Self.browser])).headers["location"] == "https://shop.example/sale?code=B-2")
        try await server.stop()
    }

    @Test func headScannersAndFetchesRightAfterTheSendCountAsMachines() async throws {
        let (store, messages) = try Self.fixture()
        let server = try await RunningWebServer.start(store: store, messages: messages)
        let html = try await Self.html(store, messages, "ann@example.org")
        let click = Self.paths(html, "/c/")[1], open = try #require(Self.paths(html, "/o/").first)
        // Handed to a server now, by the server's clock.
        let id = try Self.deliveryID(store, "ann@example.org")
        try await store.writer.write { db in
            try db.execute(sql: "UPDATE deliveries SET state = 'sent', last_attempt_at = ? WHERE id = ?",
                           arguments: [Int64(server.clock.date.timeIntervalSince1970), id])
        }
        let head = try await server.client.send(.init("HEAD", click, headers: ["User-Agent": Self.browser]))
        #expect(head.status == 302 && head.headers["location"] == "https://shop.example/about")
        let early = try await server.client.send(.init("GET", open, headers: ["User-Agent": Self.browser]))
        let proxy = try await server.client.send(.init("GET", open, headers: ["User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"]))
        server.clock.advance(by: .seconds(120))
        let person = try await server.client.send(.init("GET", open, headers: ["User-Agent": Self.browser]))
        #expect([early, proxy, person].map(\.status) == [200, 200, 200])
        #expect(person.headers["content-type"] == "image/gif" && person.body.hasPrefix("GIF89a"))
        #expect(person.headers["cache-control"] == "no-store, no-cache, must-revalidate, max-age=0")
        #expect(person.headers["pragma"] == "no-cache" && person.headers["expires"] == "0")
        let rows = try events(store)
        #expect(rows.map { $0["kind"] as String } == ["click", "open", "open", "open"])
        #expect(rows.map { $0["machine_reason"] as String? } == ["head", "soon-after-send", "agent:google-image-proxy", nil])
        #expect(try store.trackingCounts(campaign: "spring-sale") == [.open: TrackingCounts(human: 1, machineOnly: 0), .click: TrackingCounts(human: 0, machineOnly: 1)])
        #expect(try store.linkClicks(campaign: "spring-sale") == [LinkClicks(position: 1, target: "https://shop.example/about", human: 0, machine: 1)])
        let report = try store.deliveryReport(campaign: "spring-sale")
        let ann = try #require(report.first { $0.email == "ann@example.org" })
        #expect(ann.openedAt == Date(timeIntervalSince1970: server.clock.date.timeIntervalSince1970.rounded(.down)))
        #expect(ann.clickedAt == nil)
        try await server.stop()
    }

    @Test func theViewPageIsTheRecipientsMessageWithTrackedLinksAndNoPixel() async throws {
        let (store, messages) = try Self.fixture()
        let server = try await RunningWebServer.start(store: store, messages: messages)
        let html = try await Self.html(store, messages, "bob@example.org")
        let view = try #require(Self.paths(html, "/v/").first)
        let page = try await server.client.send(.init("GET", view, headers: ["User-Agent": Self.browser]))
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains("<p>Hello Bob</p>"))
        #expect(Self.paths(page.body, "/c/") == Self.paths(html, "/c/"))
        #expect(!page.body.contains("/o/"))
        let policy = try #require(page.headers["content-security-policy"])
        #expect(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'") && !policy.contains("script"))
        #expect(page.headers["x-frame-options"] == "DENY" && page.headers["referrer-policy"] == "no-referrer")
        #expect(page.headers["cache-control"] == "no-store")
        // A view is no open: nothing is recorded.
        #expect(try events(store).isEmpty)
        // Without the messages (a server started so), the routes answer 404.
        let bare = try await RunningWebServer.start(store: store)
        #expect(try await bare.client.send(.init("GET", view)).status == 404)
        try await bare.stop()
        try await server.stop()
    }
}
