import Campaigns
import Foundation
import Testing
import TestPeers

/// The preferences page in a real browser: Debian's Chromium, driven by selenium through
/// its chromedriver. What a person sees after each button, and what the store holds.
@Suite(.serialized) struct PreferencesBrowserTests {
    struct Job: Encodable { let url: String; let press: [String] }
    struct Listed: Decodable, Equatable { let name: String?; let state: String?; let this: Bool }
    struct Page: Decodable {
        let heading: String?; let notice: String?; let global: String?; let lists: [Listed]; let buttons: [String]; let url: String
    }
    struct Result: Decodable { let pages: [Page]; let console: [String] }

    static func browse(_ url: String, pressing press: [String]) async throws -> Result {
        try await PythonCheck.json("web/browser_preferences.py", Job(url: url, press: press), as: Result.self)
    }

    @Test func aPersonUnsubscribesFromOneListThenEverythingThenComesBack() async throws {
        let server = try await RunningWebServer.start(store: PreferencesRouteTests.store())
        let url = "http://127.0.0.1:\(server.port)/p/\(server.token())"
        let result = try await Self.browse(url, pressing: [
            "li[data-list='offers'] button", "#unsubscribe-all", "#resubscribe-all",
        ])
        let store = server.store
        let scopes = (customers: try store.suppressionScope(of: "ann@example.org", list: "customers"),
                      offers: try store.suppressionScope(of: "ann@example.org", list: "offers"))
        try await server.stop()
        #expect(result.pages.count == 4)
        let (first, offers, everything, back) = (result.pages[0], result.pages[1], result.pages[2], result.pages[3])
        #expect(first.heading == "Your email preferences")
        #expect(first.lists == [Listed(name: "customers", state: "subscribed", this: true), Listed(name: "offers", state: "subscribed", this: false)])
        #expect(first.buttons == ["Unsubscribe from this list", "Unsubscribe from this list", "Unsubscribe from everything"])
        #expect(offers.notice == "You are unsubscribed from offers.")
        #expect(offers.lists.map(\.state) == ["subscribed", "unsubscribed"])
        #expect(offers.buttons == ["Unsubscribe from this list", "Resubscribe", "Unsubscribe from everything"])
        #expect(everything.notice == "You are unsubscribed from everything.")
        #expect(everything.global?.contains("You are unsubscribed from everything") == true)
        #expect(everything.buttons.first == "Resubscribe")
        #expect(back.global == nil)
        #expect(back.lists.map(\.state) == ["subscribed", "unsubscribed"])
        // Every answer came back on the page's own URL: no redirect, the token alone.
        #expect(result.pages.allSatisfy { $0.url == url })
        #expect(!result.console.contains { $0.contains("Content Security Policy") }, "\(result.console)")
        // The store: offers alone suppressed on its list, nothing global left.
        #expect(scopes.customers == nil && scopes.offers == .list)
        #expect(try store.suppressions().isEmpty)
    }

    @Test func aTamperedPreferencesLinkShowsTheNotFoundPage() async throws {
        let server = try await RunningWebServer.start(store: PreferencesRouteTests.store())
        let result = try await Self.browse("http://127.0.0.1:\(server.port)/p/\(server.token().dropLast(3))", pressing: [])
        try await server.stop()
        #expect(result.pages.map(\.heading) == ["Not found"])
        #expect(result.pages[0].buttons.isEmpty)
        #expect(try WebServerTests.writes(server.store) == [0, 0, 0])
    }
}
