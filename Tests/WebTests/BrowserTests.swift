import Foundation
import Testing
import TestPeers

/// The page flow in a real browser: Debian's Chromium, driven by selenium through its
/// chromedriver. What a person sees, and what the store holds afterwards.
@Suite(.serialized) struct BrowserTests {
    struct Job: Encodable { let url: String; let press: [String]; let screenshot: String? }
    struct Page: Decodable { let title: String; let heading: String?; let list: String?; let buttons: [String]; let text: String; let url: String }
    struct Result: Decodable { let pages: [Page]; let console: [String] }

    static func browse(_ url: String, pressing press: [String]) async throws -> Result {
        let job = Job(url: url, press: press, screenshot: ProcessInfo.processInfo.environment["SALVO_BROWSER_SCREENSHOT"])
        return try await PythonCheck.json("web/browser_unsubscribe.py", job, as: Result.self)
    }

    @Test func theLinkShowsAButtonAndPressingItUnsubscribes() async throws {
        let server = try await RunningWebServer.start(store: WebServerTests.store())
        let url = "http://127.0.0.1:\(server.port)/u/\(server.token())"
        let result = try await Self.browse(url, pressing: ["unsubscribe"])
        try await server.stop()
        #expect(result.pages.count == 2)
        let first = result.pages[0], second = result.pages[1]
        #expect(first.heading == "Unsubscribe")
        #expect(first.list == "customers")
        #expect(first.buttons == ["unsubscribe"])
        #expect(first.text.contains("Nothing changes until you press the button."))
        #expect(second.heading == "You are unsubscribed")
        #expect(second.list == "customers")
        #expect(second.buttons == ["resubscribe"])
        // The browser posted to the same URL and was answered there, without a redirect.
        #expect(second.url == url)
        // Nothing the pages do is blocked by their own policy.
        #expect(!result.console.contains { $0.contains("Content Security Policy") }, "\(result.console)")
        let recorded = try server.store.unsubscribes()
        #expect(recorded.map(\.email) == ["ann@example.org"] && recorded.map(\.channel) == ["page"])
        #expect(try WebServerTests.unsubscribedFromList("ann@example.org", server.store))
    }

    @Test func openingTheLinkAloneChangesNothing() async throws {
        let server = try await RunningWebServer.start(store: WebServerTests.store())
        let result = try await Self.browse("http://127.0.0.1:\(server.port)/u/\(server.token())", pressing: [])
        try await server.stop()
        #expect(result.pages.map(\.heading) == ["Unsubscribe"])
        #expect(try server.store.unsubscribes().isEmpty)
        #expect(try !WebServerTests.unsubscribedFromList("ann@example.org", server.store))
    }

    @Test func theUndoButtonResubscribes() async throws {
        let server = try await RunningWebServer.start(store: WebServerTests.store())
        let result = try await Self.browse("http://127.0.0.1:\(server.port)/u/\(server.token())", pressing: ["unsubscribe", "resubscribe"])
        try await server.stop()
        #expect(result.pages.map(\.heading) == ["Unsubscribe", "You are unsubscribed", "You are subscribed again"])
        #expect(result.pages[2].list == "customers")
        #expect(try !WebServerTests.unsubscribedFromList("ann@example.org", server.store))
        #expect(try server.store.unsubscribes().first?.undoneAt != nil)
    }

    @Test func aTamperedLinkShowsTheNotFoundPage() async throws {
        let server = try await RunningWebServer.start(store: WebServerTests.store())
        let result = try await Self.browse("http://127.0.0.1:\(server.port)/u/\(server.token().dropLast(3))", pressing: [])
        try await server.stop()
        #expect(result.pages.map(\.heading) == ["Not found"])
        #expect(result.pages[0].buttons.isEmpty)
    }
}
