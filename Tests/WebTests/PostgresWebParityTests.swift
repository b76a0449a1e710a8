import Campaigns
import Foundation
import GRDB
import MailMessage
import PostgresStore
import StoreCopy
import Testing
import TestPeers
import Web

/// `salvo serve` on PostgreSQL answers as on SQLite. One store is made on SQLite and
/// copied into a new PostgreSQL database (`salvo db copy`); a server runs on each, with
/// clocks moved together, and the same requests go to both: one-click unsubscribes, the
/// page and its undo (in time and too late), the preferences page's four buttons, a
/// campaign the store no longer has, opens, clicks and views, tampered tokens. Every answer
/// (status, location, body) must be the same, and so must what each store holds at the
/// end: the PostgreSQL database is copied back and its unsubscribes, suppressions and
/// tracking events compared row by row (addresses ignoring case: PostgreSQL keeps them
/// lower-cased).
@Suite struct PostgresWebParityTests {
    static let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// The tracking fixture (ann and bob on `customers`, the tracked `spring-sale` started
    /// over them), ann also on `offers`; both deliveries sent an hour before `start`,
    /// and bob bounced globally once before.
    static func sqliteStore() throws -> (store: SalvoStore, folder: String) {
        let (store, _) = try TrackingRoutesTests.fixture()
        let folder = (store.path as NSString).deletingLastPathComponent
        try "email\nann@example.org\n".write(toFile: folder + "/offers.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: "offers", path: folder + "/offers.csv").run(in: store)
        let sent = Int64(start.timeIntervalSince1970) - 3600
        try store.writer.write { db in
            try db.execute(sql: "UPDATE deliveries SET state = 'sent', attempts = 1, last_attempt_at = ?, first_attempt_at = ?",
                           arguments: [sent, sent])
            try db.execute(sql: "INSERT INTO attempts (delivery_id, attempted_at, outcome, code) SELECT id, ?, 'sent', 250 FROM deliveries",
                           arguments: [sent])
        }
        try store.suppress(["bob@example.org"], reason: .hardBounce, now: start.addingTimeInterval(-7200))
        return (store, folder)
    }

    /// One step of the script: requests sent in order, then the clocks moved.
    struct Step {
        var requests: [WebClient.Request]
        var thenAdvance: Duration = .zero
    }

    @Test func everyLinkAnswersAndRecordsTheSameOnBothStores() async throws {
        let (sqlite, folder) = try Self.sqliteStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let postgres = try await PostgresServer.shared()
        let database = try await postgres.makeDatabase()
        defer { postgres.dropDatabase(database) }
        let url = try PostgresURL(postgres.url(database))
        _ = try await DatabaseCopy.copy(from: sqlite, to: url, password: nil)
        let store = try await PostgresDeliveryStore.connect(to: url)

        var configuration = SalvoConfiguration()
        configuration.web.publicURL = TrackingRoutesTests.publicURL
        let environment = ["SALVO_UNSUBSCRIBE_SECRET": String(decoding: RunningWebServer.secret, as: UTF8.self)]
        let sqliteMessages = DeliveryMessages(store: sqlite, configuration: configuration, environment: environment)
        let servers = [
            try await RunningWebServer.start(store: sqlite, messages: sqliteMessages),
            try await RunningWebServer.start(store: store, messages: DeliveryMessages(store: store, configuration: configuration, environment: environment)),
        ]
        for server in servers { server.clock.advance(by: .seconds(Self.start.timeIntervalSince(server.clock.date))) }

        // The links of ann's message, as it was sent (the same on both: the same ids).
        let html = try await TrackingRoutesTests.html(sqlite, sqliteMessages, "ann@example.org")
        let clicks = TrackingRoutesTests.paths(html, "/c/")
        let opens = TrackingRoutesTests.paths(html, "/o/")
        let views = TrackingRoutesTests.paths(html, "/v/")
        #expect(clicks.count == 2 && opens.count == 1 && views.count == 1, "\(html)")
        var tampered = Array(clicks[0])
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"

        let token = servers[0].token
        let ann = token("spring-sale", "ann@example.org")
        let annSpelledOtherwise = token("spring-sale", "Ann@Example.ORG")
        let bob = token("spring-sale", "bob@example.org")
        let carol = token("gone-campaign", "carol@example.org")
        let agent = ["User-Agent": Self.browser]
        let steps: [Step] = [
            // The page, a scanner's GET and HEAD: nothing written.
            Step(requests: [.init("GET", "/u/" + ann), .init("HEAD", "/u/" + ann), .init("GET", "/p/" + ann)]),
            // One-click, again, and in another spelling of the address: one unsubscribe.
            Step(requests: [.oneClick("/u/" + ann), .oneClick("/u/" + ann), .oneClick("/u/" + annSpelledOtherwise),
                            .init("GET", "/p/" + ann)], thenAdvance: .seconds(60)),
            // The undo within the window, then nothing left to undo.
            Step(requests: [.form("/u/" + ann, ["action": "resubscribe"]), .form("/u/" + ann, ["action": "resubscribe"]),
                            .init("GET", "/p/" + ann)]),
            // The page's button for bob, bounced globally before: an unsubscribe from the
            // list; the undo comes too late.
            Step(requests: [.form("/u/" + bob, ["action": "unsubscribe"])], thenAdvance: .seconds(3 * 3600)),
            Step(requests: [.form("/u/" + bob, ["action": "resubscribe"]), .init("GET", "/p/" + bob),
                            // The global bounce may not be lifted from the page.
                            .form("/p/" + bob, ["action": "resubscribe-all"])]),
            // The preferences page: one list, back again, a list not ann's, everything, back.
            Step(requests: [.form("/p/" + ann, ["action": "unsubscribe-list", "list": "offers"]),
                            .form("/p/" + ann, ["action": "resubscribe-list", "list": "offers"]),
                            .form("/p/" + ann, ["action": "unsubscribe-list", "list": "staff"]),
                            .form("/p/" + ann, ["action": "unsubscribe-list", "list": "customers"]),
                            .form("/p/" + ann, ["action": "unsubscribe-all"]),
                            .form("/p/" + ann, ["action": "unsubscribe-all"]),
                            .form("/p/" + ann, ["action": "resubscribe-all"]),
                            .form("/p/" + ann, ["action": "nonsense"])]),
            // A campaign the store does not have: unsubscribed globally, and undone.
            Step(requests: [.init("GET", "/u/" + carol), .oneClick("/u/" + carol), .form("/u/" + carol, ["action": "resubscribe"]),
                            .oneClick("/u/" + carol)]),
            // Opens, clicks and the view: a person, a HEAD, no user agent, a tampered link.
            Step(requests: [.init("GET", opens[0], headers: agent), .init("HEAD", opens[0], headers: agent), .init("GET", opens[0]),
                            .init("GET", clicks[0], headers: agent), .init("GET", clicks[1], headers: agent),
                            .init("GET", String(tampered), headers: agent), .init("GET", views[0], headers: agent),
                            .init("GET", "/c/not-a-token"), .init("GET", "/o/" + String(opens[0].dropFirst(3).reversed()))]),
        ]

        for (number, step) in steps.enumerated() {
            let answers = try await [servers[0].client.send(step.requests), servers[1].client.send(step.requests)]
            for (index, request) in step.requests.enumerated() {
                let (onSQLite, onPostgres) = (answers[0][index], answers[1][index])
                #expect(onSQLite.status == onPostgres.status, "step \(number) \(request.method) \(request.path)")
                #expect(onSQLite.headers["location"] == onPostgres.headers["location"], "step \(number) \(request.method) \(request.path)")
                #expect(onSQLite.body == onPostgres.body, "step \(number) \(request.method) \(request.path): \(onSQLite.body) | \(onPostgres.body)")
            }
            for server in servers { server.clock.advance(by: step.thenAdvance) }
        }
        // What the steps above mean on SQLite, so the comparison below compares something.
        let unsubscribes = try sqlite.unsubscribes()
        #expect(unsubscribes.map { "\($0.email) \($0.campaign) \($0.channel) \($0.undoneAt == nil ? "stands" : "undone")" } == [
            "bob@example.org spring-sale page stands", "ann@example.org spring-sale preferences stands",
            "carol@example.org gone-campaign one-click stands",
        ])
        for server in servers { try await server.stop() }
        await store.shutdown()

        let copied = folder + "/from-postgres.db"
        _ = try await DatabaseCopy.copy(from: url, password: nil, toSQLite: copied)
        let back = try SalvoStore(path: copied)
        for table in [
            "SELECT lower(email), campaign, channel, at, undone_at FROM unsubscribes ORDER BY 1, 2",
            "SELECT lower(email), reason, detail, created_at FROM suppressions ORDER BY 1",
            "SELECT list_id, lower(email), reason, detail, created_at FROM list_suppressions ORDER BY 1, 2",
            "SELECT delivery_id, kind, link_position, link_target, at, machine, machine_reason FROM tracking_events ORDER BY id",
        ] {
            let expected = try await sqlite.writer.read { db in try Row.fetchAll(db, sql: table).map(\.description) }
            let found = try await back.writer.read { db in try Row.fetchAll(db, sql: table).map(\.description) }
            #expect(found == expected, "\(table)")
        }
        let events = try await sqlite.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM tracking_events") }
        #expect(events == 5)
    }

    /// The database refusing connections (its sessions ended, new ones not allowed): a
    /// provider's one-click POST is answered 503, "try again soon", and nothing is half
    /// written; once the database takes connections again the same POST unsubscribes, once.
    @Test func aDatabaseThatRefusesConnectionsIsA503AndTheRetryIsRecorded() async throws {
        let sqlite = try WebServerTests.store()
        defer { try? FileManager.default.removeItem(atPath: (sqlite.path as NSString).deletingLastPathComponent) }
        let postgres = try await PostgresServer.shared()
        let database = try await postgres.makeDatabase()
        defer { postgres.dropDatabase(database) }
        let url = try PostgresURL(postgres.url(database))
        _ = try await DatabaseCopy.copy(from: sqlite, to: url, password: nil)
        let store = try await PostgresDeliveryStore.connect(to: url, settings: .init(connectionWait: .seconds(2)))
        let server = try await RunningWebServer.start(store: store)
        let path = "/u/" + server.token()
        // The pool's first connection can take longer than the 2 s wait on a loaded
        // machine: the page is asked for until the store answers.
        let first = try await Self.retried(.init("GET", path), on: server)
        #expect(first.last == 200 && first.allSatisfy { $0 == 503 || $0 == 200 }, "\(first)")

        try postgres.psql("ALTER DATABASE \(database) ALLOW_CONNECTIONS false")
        try postgres.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)'")
        let refused = try await server.client.send([.oneClick(path), .oneClick(path)])
        #expect(refused.map(\.status) == [503, 503], "\(refused.map(\.body))")
        #expect(refused.allSatisfy { $0.body.contains("Try again soon") && !$0.body.contains("PostgreSQL") })
        #expect(server.log.lines.contains { $0.contains("store failed") }, "\(server.log.lines)")

        try postgres.psql("ALTER DATABASE \(database) ALLOW_CONNECTIONS true")
        #expect(try await postgres.query("SELECT count(*) FROM unsubscribes", database: database) == "0")
        // The pool connects again after its back-off; the provider retries until it is
        // answered (bounded here in count, the deadline only a hang guard).
        let answered = try await Self.retried(.oneClick(path), on: server)
        #expect(answered.last == 200 && answered.allSatisfy { $0 == 503 || $0 == 200 }, "\(answered)")
        #expect(try await server.client.send(.oneClick(path)).status == 200)
        try await server.stop()
        await store.shutdown()
        #expect(try await postgres.query("SELECT email, channel, undone_at IS NULL FROM unsubscribes", database: database)
                == "ann@example.org|one-click|t")
        #expect(try await postgres.query("SELECT count(*) FROM list_suppressions", database: database) == "1")
    }

    /// Sends `request` until it is answered 200, as a provider retries: at most 100 times,
    /// two minutes only as a hang guard. Returns every status it was answered.
    static func retried(_ request: WebClient.Request, on server: RunningWebServer) async throws -> [Int] {
        var answered: [Int] = []
        let deadline = Date().addingTimeInterval(120)
        while answered.last != 200, answered.count < 100, Date() < deadline {
            answered.append(try await server.client.send(request).status)
        }
        return answered
    }
}
