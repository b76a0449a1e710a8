import Campaigns
import Foundation
import GRDB
import MailMessage
import Testing
import TestPeers
import Web

/// `/p/TOKEN`, the preferences page, against the real server on 127.0.0.1 through
/// Python's http.client: what it shows, what each button does to the store, and that a
/// bad token or a request the page does not make writes nothing.
@Suite struct PreferencesRouteTests {
    /// `WebServerTests.store()` (ann on `customers`, the campaign `spring-sale` over it),
    /// plus ann on `offers` and bob alone on `staff`.
    static func store(listName: String = "customers") throws -> SalvoStore {
        let store = try WebServerTests.store(listName: listName)
        let folder = (store.path as NSString).deletingLastPathComponent
        try "email\nann@example.org\n".write(toFile: folder + "/offers.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: "offers", path: folder + "/offers.csv").run(in: store)
        try "email\nbob@example.org\n".write(toFile: folder + "/staff.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: "staff", path: folder + "/staff.csv").run(in: store)
        return store
    }

    /// The lists the page shows, each as `name: state`, in page order.
    static func lists(_ body: String) -> [String] {
        body.components(separatedBy: "<li data-list=\"").dropFirst().map { item in
            let name = item.prefix { $0 != "\"" }
            let state = item.components(separatedBy: "<span class=\"state\">").dropFirst().first?.prefix { $0 != "<" } ?? "?"
            return "\(name): \(state)"
        }
    }

    @Test func theGetShowsEveryListOfTheAddressAndWritesNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/p/" + server.token()
        let page = try await server.client.send(.init("GET", path))
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(Self.lists(page.body) == ["customers: subscribed", "offers: subscribed"])
        #expect(page.body.contains("(this list)"))
        #expect(page.body.contains("<form method=\"post\" action=\"\(path)\">"))
        #expect(page.body.contains("id=\"unsubscribe-all\""))
        #expect(page.body.contains("name=\"list\" value=\"offers\""))
        // The address is in no page and no URL: the token stands for it.
        #expect(!page.body.contains("ann@example.org"))
        let head = try await server.client.send(.init("HEAD", path))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(try WebServerTests.writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func unsubscribingFromOneListLeavesTheOthersAndResubscribeUndoesIt() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/p/" + server.token()
        let done = try await server.client.send(.form(path, ["action": "unsubscribe-list", "list": "offers"]))
        #expect(done.status == 200)
        #expect(done.body.contains("You are unsubscribed from offers."))
        #expect(Self.lists(done.body) == ["customers: subscribed", "offers: unsubscribed"])
        #expect(try server.store.suppressionScope(of: "ann@example.org", list: "offers") == .list)
        #expect(try server.store.suppressionScope(of: "ann@example.org", list: "customers") == nil)
        #expect(try server.store.suppressions().isEmpty)
        let suppression = try #require(try server.store.listSuppressions().first)
        #expect(suppression.reason == "unsubscribe" && suppression.detail == "campaign spring-sale (preferences)")
        #expect(suppression.createdAt == server.clock.date)

        let again = try await server.client.send(.form(path, ["action": "resubscribe-list", "list": "offers"]))
        #expect(again.status == 200 && again.body.contains("You are subscribed to offers again."))
        #expect(Self.lists(again.body) == ["customers: subscribed", "offers: subscribed"])
        #expect(try WebServerTests.writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func resubscribingToTheCampaignsListUndoesItsOneClickUnsubscribe() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        _ = try await server.client.send(.oneClick("/u/" + server.token()))
        let path = "/p/" + server.token()
        let page = try await server.client.send(.init("GET", path))
        #expect(Self.lists(page.body) == ["customers: unsubscribed", "offers: subscribed"])
        server.clock.advance(by: .seconds(86_400))
        let again = try await server.client.send(.form(path, ["action": "resubscribe-list", "list": "customers"]))
        #expect(Self.lists(again.body) == ["customers: subscribed", "offers: subscribed"])
        #expect(try server.store.listSuppressions().isEmpty)
        #expect(try server.store.unsubscribes().map(\.undoneAt) == [server.clock.date])
        try await server.stop()
    }

    /// The unsubscribe page's confirmation links to the preferences page for the rest.
    @Test func theUnsubscribeConfirmationLinksToThePreferencesPage() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let confirm = try await server.client.send(.init("GET", "/u/" + server.token()))
        #expect(confirm.body.contains("Other lists you receive are not affected."))
        let done = try await server.client.send(.form("/u/" + server.token(), ["action": "unsubscribe"]))
        let link = "/p/" + server.token()
        #expect(done.body.contains("<a id=\"preferences\" href=\"\(link)\">"))
        let page = try await server.client.send(.init("GET", link))
        #expect(page.status == 200)
        #expect(Self.lists(page.body) == ["customers: unsubscribed", "offers: subscribed"])
        try await server.stop()
    }

    @Test func unsubscribingFromEverythingIsGlobalAndItsResubscribeLiftsIt() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/p/" + server.token()
        let done = try await server.client.send(.form(path, ["action": "unsubscribe-all"]))
        #expect(done.status == 200 && done.body.contains("id=\"global-state\""))
        #expect(done.body.contains("id=\"resubscribe-all\"") && !done.body.contains("id=\"unsubscribe-all\""))
        let global = try #require(try server.store.suppressions().first)
        #expect(global.email == "ann@example.org" && global.reason == "unsubscribe")
        #expect(try server.store.suppressionScope(of: "ann@example.org", list: "offers") == .global)
        // Counted as an unsubscribe from the campaign the page came from.
        #expect(try server.store.unsubscribeCounts(campaign: "spring-sale") == [.preferences: 1])

        server.clock.advance(by: .seconds(60))
        let back = try await server.client.send(.form(path, ["action": "resubscribe-all"]))
        #expect(back.status == 200 && !back.body.contains("id=\"global-state\""))
        #expect(try server.store.unsubscribeCounts(campaign: "spring-sale").isEmpty)
        #expect(try server.store.unsubscribes().map(\.undoneAt) == [server.clock.date])
        #expect(try WebServerTests.writes(server.store) == [1, 0, 0])
        try await server.stop()
    }

    /// Leaving the campaign's own list on the page is an unsubscribe from the campaign,
    /// once however often it is asked; another list's is not; resubscribing undoes it.
    @Test func leavingTheCampaignsListOnThePageCountsAsItsUnsubscribe() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/p/" + server.token()
        for _ in 0..<2 {
            let done = try await server.client.send(.form(path, ["action": "unsubscribe-list", "list": "customers"]))
            #expect(done.status == 200)
        }
        _ = try await server.client.send(.form(path, ["action": "unsubscribe-list", "list": "offers"]))
        #expect(try server.store.unsubscribeCounts(campaign: "spring-sale") == [.preferences: 1])
        let record = try #require(try server.store.unsubscribes().first)
        #expect(record.email == "ann@example.org" && record.channel == "preferences" && record.at == server.clock.date)
        _ = try await server.client.send(.form(path, ["action": "resubscribe-list", "list": "customers"]))
        #expect(try server.store.unsubscribeCounts(campaign: "spring-sale").isEmpty)
        try await server.stop()
    }

    /// A bounce, a complaint or the sender's own suppression is shown but never lifted.
    @Test func aBounceOrComplaintSuppressionIsNeverLifted() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        for reason in [SuppressionReason.hardBounce, .complaint, .manual] {
            _ = try server.store.unsuppress(["ann@example.org"])
            try server.store.suppress(["ann@example.org"], reason: reason)
            let path = "/p/" + server.token()
            let page = try await server.client.send(.init("GET", path))
            #expect(page.body.contains("id=\"global-state\"") && page.body.contains("This page cannot change that."))
            #expect(!page.body.contains("id=\"resubscribe-all\"") && !page.body.contains("id=\"unsubscribe-all\""))
            let tried = try await server.client.send(.form(path, ["action": "resubscribe-all"]))
            #expect(tried.status == 200 && tried.body.contains("Mail to this address stays stopped."))
            #expect(try server.store.suppressions().map(\.reason) == [reason.rawValue])
        }
        try await server.stop()
    }

    @Test func aListOfSomeoneElseOrAnUnknownActionIsA400AndWritesNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/p/" + server.token()
        let requests: [WebClient.Request] = [
            .form(path, ["action": "unsubscribe-list", "list": "staff"]),
            .form(path, ["action": "unsubscribe-list", "list": "no-such-list"]),
            .form(path, ["action": "unsubscribe-list"]),
            .form(path, ["action": "explode"]),
            .oneClick(path),
            .init("POST", path, body: ""),
        ]
        for request in requests {
            let answer = try await server.client.send(request)
            #expect(answer.status == 400 && answer.body.contains("id=\"status-400\""), "\(request.body ?? "")")
        }
        #expect(try WebServerTests.writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func badTokensGetTheSame404PageAndWriteNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let good = server.token()
        var tampered = Array(good)
        tampered[12] = tampered[12] == "A" ? "B" : "A"
        let bad = [
            UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: Array("another secret".utf8)),
            String(good.dropLast()), String(tampered), good + "A", "2.", "4.", "ann@example.org", String(repeating: "A", count: 5000),
        ]
        var bodies: Set<String> = []
        for token in bad {
            let answers = try await server.client.send([
                .init("GET", "/p/" + token), .form("/p/" + token, ["action": "unsubscribe-all"]),
                .form("/p/" + token, ["action": "unsubscribe-list", "list": "customers"]),
            ])
            for answer in answers {
                #expect(answer.status == 404 && answer.body.contains("id=\"status-404\""), "\(token.prefix(20))")
                bodies.insert(answer.body)
            }
        }
        #expect(bodies.count == 1)
        #expect(try WebServerTests.writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func listNamesAreEscaped() async throws {
        let name = "<script>alert(1)</script>&\"co\""
        let server = try await RunningWebServer.start(store: Self.store(listName: name))
        let path = "/p/" + server.token()
        let page = try await server.client.send(.init("GET", path))
        let done = try await server.client.send(.form(path, ["action": "unsubscribe-list", "list": name]))
        #expect(done.status == 200)
        for body in [page.body, done.body] {
            #expect(!body.contains("<script>"))
            #expect(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;co&quot;"))
        }
        #expect(try server.store.listSuppressions().map(\.list) == [name])
        try await server.stop()
    }
}
