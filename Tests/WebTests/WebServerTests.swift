import Campaigns
import Crypto
import Foundation
import GRDB
import MailMessage
import Testing
import TestPeers
import Web

/// `salvo serve`'s routes against the real server on 127.0.0.1, through Python's
/// http.client: what each answers, and what the store holds afterwards.
@Suite struct WebServerTests {
    /// A store with the list `customers` and the campaign `spring-sale` over it.
    static func store(listName: String = "customers") throws -> SalvoStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("web-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try SalvoStore(path: folder + "/salvo.db")
        try "email,name\nann@example.org,Ann\n".write(toFile: folder + "/list.csv", atomically: true, encoding: .utf8)
        _ = try ListImport(listName: listName, path: folder + "/list.csv").run(in: store)
        try "Hello\n".write(toFile: folder + "/t.txt.mustache", atomically: true, encoding: .utf8)
        let campaign = folder + "/spring-sale.yml"
        try """
            name: spring-sale
            list: "\(listName.replacingOccurrences(of: "\"", with: "\\\""))"
            from: news@shop.example
            subject: Hi
            text: t.txt.mustache
            unsubscribe: "https://shop.example/u/{{unsubscribe_token}}"
            """.write(toFile: campaign, atomically: true, encoding: .utf8)
        try store.createCampaign(CampaignDefinition.load(path: campaign), sourcePath: campaign)
        return store
    }

    /// How many rows `unsubscribes`, `suppressions` and `list_suppressions` hold.
    static func writes(_ store: SalvoStore) throws -> [Int] {
        try store.writer.read { db in
            [try Int.fetchOne(db, sql: "SELECT count(*) FROM unsubscribes") ?? -1,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM suppressions") ?? -1,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM list_suppressions") ?? -1]
        }
    }

    func writes(_ store: SalvoStore) throws -> [Int] { try Self.writes(store) }

    /// Whether `email` is suppressed on the campaign's list `customers` (and not globally).
    static func unsubscribedFromList(_ email: String, _ store: SalvoStore, list: String = "customers") throws -> Bool {
        try store.suppressionScope(of: email, list: list) == .list
    }

    @Test func aGetShowsTheListAndOneButtonThatPostsAndWritesNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/u/" + server.token()
        let page = try await server.client.send(.init("GET", path))
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains("<strong id=\"list\">customers</strong>"))
        #expect(page.body.contains("<form method=\"post\" action=\"\(path)\">"))
        #expect(page.body.components(separatedBy: "<button").count == 2)
        #expect(page.body.contains("name=\"action\" value=\"unsubscribe\""))
        let head = try await server.client.send(.init("HEAD", path))
        #expect(head.status == 200 && head.body.isEmpty)
        // On the wire too: the headers and nothing after them.
        let rawHead = try await server.client.raw("HEAD \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", wait: 20)
        #expect(rawHead.reply.hasPrefix("HTTP/1.1 200") && rawHead.reply.hasSuffix("\r\n\r\n") && !rawHead.reply.contains("<html"))
        #expect(try writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func everyAnswerCarriesTheSecurityHeaders() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let answers = try await server.client.send([
            .init("GET", "/u/" + server.token()), .oneClick("/u/" + server.token()), .init("GET", "/u/forged"),
            .init("GET", "/nowhere"), .init("GET", "/health"),
        ])
        for answer in answers {
            let policy = try #require(answer.headers["content-security-policy"])
            #expect(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'") && policy.contains("form-action 'self'"))
            #expect(!policy.contains("unsafe-inline"))
            #expect(answer.headers["referrer-policy"] == "no-referrer")
            #expect(answer.headers["x-content-type-options"] == "nosniff")
            #expect(answer.headers["x-frame-options"] == "DENY")
            #expect(answer.headers["cache-control"] == "no-store")
        }
        try await server.stop()
    }

    @Test func aOneClickPostSuppressesAtOnceAndARepeatChangesNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/u/" + server.token()
        let first = try await server.client.send(.oneClick(path))
        #expect(first.status == 200)
        #expect(first.headers["location"] == nil)
        #expect(first.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(first.body == "Unsubscribed.\n")
        // On the campaign's list only: the global list stays empty.
        #expect(try server.store.suppressions().isEmpty)
        let suppressed = try #require(try server.store.listSuppressions().first)
        #expect(suppressed.list == "customers" && suppressed.email == "ann@example.org" && suppressed.reason == "unsubscribe")
        #expect(suppressed.detail == "campaign spring-sale (one-click)")
        #expect(suppressed.createdAt == server.clock.date)
        let recorded = try server.store.unsubscribes()
        #expect(recorded == [UnsubscribeRecord(email: "ann@example.org", campaign: "spring-sale", channel: "one-click", at: server.clock.date, undoneAt: nil)])

        server.clock.advance(by: .seconds(3600))
        let again = try await server.client.send(.oneClick(path))
        #expect(again.status == 200 && again.body == first.body)
        #expect(try server.store.unsubscribes() == recorded)
        #expect(try server.store.listSuppressions() == [suppressed])
        try await server.stop()
    }

    @Test func aMultipartOneClickPostCountsToo() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let body = "--b0undary\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b0undary--\r\n"
        let answer = try await server.client.send(.init("POST", "/u/" + server.token(recipient: "bob@example.org"),
                                                        headers: ["Content-Type": "multipart/form-data; boundary=b0undary"], body: body))
        #expect(answer.status == 200)
        #expect(try Self.unsubscribedFromList("bob@example.org", server.store))
        try await server.stop()
    }

    @Test func aTokenFromMailSentBeforeTheSealedFormStillUnsubscribes() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        // `campaign.recipient.mac` under the test secret, as the first form made it.
        let first = Self.firstFormToken(campaign: "spring-sale", recipient: "old@example.org")
        #expect(try await server.client.send(.oneClick("/u/" + first)).status == 200)
        #expect(try Self.unsubscribedFromList("old@example.org", server.store))
        try await server.stop()
    }

    /// Every kind of bad token gets the same 404 page and writes nothing, for GET and
    /// for the one-click POST alike.
    @Test func forgedTruncatedAndTamperedTokensGetA404AndWriteNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let good = server.token()
        var tampered = Array(good)
        tampered[10] = tampered[10] == "A" ? "B" : "A"
        let firstForm = Self.firstFormToken(campaign: "spring-sale", recipient: "ann@example.org")
        let bad = [
            UnsubscribeToken.make(campaign: "spring-sale", recipient: "ann@example.org", secret: Array("another secret".utf8)),
            String(good.dropLast()),
            String(good.prefix(good.count / 2)),
            String(tampered),
            good + "A",
            "2.", "4.",
            "garbage",
            String(firstForm.dropLast(2)),
            firstForm.replacingOccurrences(of: Self.base64url("ann@example.org"), with: Self.base64url("eve@example.org")),
            String(repeating: "A", count: 5000),
        ]
        var bodies: Set<String> = []
        for token in bad {
            let answers = try await server.client.send([.init("GET", "/u/" + token), .oneClick("/u/" + token), .form("/u/" + token, ["action": "unsubscribe"])])
            for answer in answers {
                #expect(answer.status == 404, "\(token.prefix(20))")
                #expect(answer.body.contains("id=\"status-404\""))
                bodies.insert(answer.body)
            }
        }
        // One page for all: nothing tells one failure from another.
        #expect(bodies.count == 1)
        #expect(try writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    /// Whether the address is on a list, suppressed already or unknown, the answer is the
    /// same: the page never tells anyone what the store knows about an address.
    @Test func answersDoNotRevealWhetherAnAddressExists() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        try server.store.suppress(["bounced@example.org"], reason: .hardBounce)
        var pages: Set<String> = []
        var clicks: Set<String> = []
        for recipient in ["ann@example.org", "nobody@example.org", "bounced@example.org"] {
            pages.insert(try await server.client.send(.init("GET", "/u/" + server.token(recipient: recipient))).body.replacingOccurrences(of: server.token(recipient: recipient), with: "T"))
            clicks.insert(try await server.client.send(.oneClick("/u/" + server.token(recipient: recipient))).body)
        }
        #expect(pages.count == 1 && clicks.count == 1)
        // The hard bounce keeps its reason.
        #expect(try server.store.suppressions(reason: .hardBounce).map(\.email) == ["bounced@example.org"])
        try await server.stop()
    }

    @Test func thePageButtonUnsubscribesAndItsUndoResubscribesForAWhile() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/u/" + server.token()
        let done = try await server.client.send(.form(path, ["action": "unsubscribe"]))
        #expect(done.status == 200)
        #expect(done.body.contains("id=\"done\"") && done.body.contains("<strong id=\"list\">customers</strong>"))
        #expect(done.body.contains("name=\"action\" value=\"resubscribe\""))
        #expect(try server.store.unsubscribes().map(\.channel) == ["page"])
        #expect(try Self.unsubscribedFromList("ann@example.org", server.store))

        server.clock.advance(by: .seconds(60))
        let undone = try await server.client.send(.form(path, ["action": "resubscribe"]))
        #expect(undone.status == 200 && undone.body.contains("id=\"resubscribed\""))
        #expect(try !Self.unsubscribedFromList("ann@example.org", server.store))
        #expect(try server.store.unsubscribes().first?.undoneAt == server.clock.date)

        // Unsubscribing again, then waiting past the window: the undo is refused.
        _ = try await server.client.send(.oneClick(path))
        #expect(try Self.unsubscribedFromList("ann@example.org", server.store))
        server.clock.advance(by: .seconds(server.settings.undoWindow + 1))
        let late = try await server.client.send(.form(path, ["action": "resubscribe"]))
        #expect(late.status == 200 && late.body.contains("id=\"undo-closed\""))
        #expect(try Self.unsubscribedFromList("ann@example.org", server.store))
        try await server.stop()
    }

    @Test func anUndoNeverLiftsAnotherReason() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        try server.store.suppress(["ann@example.org"], reason: .complaint)
        let path = "/u/" + server.token()
        _ = try await server.client.send(.form(path, ["action": "unsubscribe"]))
        _ = try await server.client.send(.form(path, ["action": "resubscribe"]))
        #expect(try server.store.suppressions().map(\.reason) == ["complaint"])
        try await server.stop()
    }

    @Test func aPostThatAsksForNothingIsA400AndWritesNothing() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/u/" + server.token()
        for request in [WebClient.Request("POST", path, body: ""), .form(path, ["action": "explode"]), .init("POST", path, body: "List-Unsubscribe=Yes")] {
            let answer = try await server.client.send(request)
            #expect(answer.status == 400 && answer.body.contains("id=\"status-400\""))
        }
        #expect(try writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func unknownPathsAndMethodsAre404Pages() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        for request in [WebClient.Request("GET", "/"), .init("GET", "/u/"), .init("PUT", "/u/" + server.token(), body: "x"),
                        .init("DELETE", "/u/" + server.token()), .init("GET", "/u/\(server.token())/more")] {
            let answer = try await server.client.send(request)
            #expect(answer.status == 404, "\(request.method) \(request.path.prefix(8))")
            #expect(answer.body.contains("id=\"status-404\""))
        }
        let health = try await server.client.send(.init("GET", "/health"))
        #expect(health.status == 200 && health.body == "ok\n")
        #expect(try writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func theListNameIsEscapedOnEveryPage() async throws {
        let server = try await RunningWebServer.start(store: Self.store(listName: "<script>alert(1)</script>&co"))
        let path = "/u/" + server.token()
        let confirm = try await server.client.send(.init("GET", path))
        let done = try await server.client.send(.form(path, ["action": "unsubscribe"]))
        for page in [confirm, done] {
            #expect(!page.body.contains("<script>"))
            #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;co"))
        }
        try await server.stop()
    }

    @Test func oversizedBodiesAndHeadersAreRefusedUnwritten() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let path = "/u/" + server.token()
        let big = "List-Unsubscribe=One-Click&pad=" + String(repeating: "x", count: server.settings.maxBodyBytes)
        let tooLarge = try await server.client.send(.init("POST", path, headers: ["Content-Type": "application/x-www-form-urlencoded"], body: big))
        #expect(tooLarge.status == 413 && tooLarge.body.contains("id=\"status-413\""))
        // Chunked, so no Content-Length warns: the limit holds while reading.
        let chunk = String(repeating: "y", count: 4096)
        var chunked = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n"
        chunked += "1a\r\nList-Unsubscribe=One-Click\r\n"
        for _ in 0..<4 { chunked += String(4096, radix: 16) + "\r\n" + chunk + "\r\n" }
        chunked += "0\r\n\r\n"
        let streamed = try await server.client.raw(chunked, wait: 20)
        #expect(streamed.reply.hasPrefix("HTTP/1.1 413"))
        let header = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Big: \(String(repeating: "z", count: server.settings.maxHeaderBytes + 1))\r\n\r\n"
        let headers = try await server.client.raw(header, wait: 20)
        #expect(!headers.reply.hasPrefix("HTTP/1.1 200"))
        #expect(headers.closed)
        #expect(try writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func aClientThatStallsIsCutOff() async throws {
        let server = try await RunningWebServer.start(store: Self.store()) { $0.idleTimeout = .seconds(1) }
        // Half a request line and headers, then nothing: the server closes the
        // connection (the wait is only a guard against a server that never does).
        let stalled = try await server.client.raw("POST /u/\(server.token()) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le", wait: 30)
        #expect(stalled.closed)
        #expect(try writes(server.store) == [0, 0, 0])
        try await server.stop()
    }

    @Test func aStoreFailureAnswersAPageWithoutSQL() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        try await server.store.writer.write { db in try db.execute(sql: "DROP TABLE unsubscribes") }
        let answer = try await server.client.send(.oneClick("/u/" + server.token()))
        #expect(answer.status == 503 && answer.body.contains("id=\"status-503\""))
        for leak in ["SQL", "unsubscribes", "INSERT", "no such table", "Error", ".swift"] {
            #expect(!answer.body.contains(leak), "\(leak)")
        }
        try await server.stop()
    }

    @Test func theLogNamesRoutesNeverTokensOrAddresses() async throws {
        let server = try await RunningWebServer.start(store: Self.store())
        let token = server.token()
        _ = try await server.client.send([.init("GET", "/u/" + token), .oneClick("/u/" + token), .init("GET", "/u/forged-token-text")])
        try await server.stop()
        let lines = server.log.lines
        #expect(lines.contains { $0.contains("http.route=/u/{token}") && $0.contains("http.method=POST") && $0.contains("http.status=200") })
        #expect(lines.contains { $0.contains("http.status=404") })
        for line in lines {
            #expect(!line.contains(token) && !line.contains(String(token.dropFirst(2).prefix(16))))
            #expect(!line.contains("ann@example.org") && !line.contains("forged-token-text"), "\(line)")
        }
        // The request lines name no client.
        for line in lines where line.contains("http.route") {
            #expect(!line.contains("127.0.0.1"), "\(line)")
        }
    }

    // MARK: Support

    static func base64url(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The first form of token, made here as it was made before the sealed form.
    static func firstFormToken(campaign: String, recipient: String) -> String {
        func prefixed(_ bytes: [UInt8]) -> [UInt8] {
            let n = UInt32(bytes.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + bytes
        }
        var mac = HMAC<SHA256>(key: SymmetricKey(data: RunningWebServer.secret))
        mac.update(data: prefixed(Array(campaign.utf8)))
        mac.update(data: prefixed(Array(recipient.utf8)))
        let cut = Data(Array(mac.finalize()).prefix(16)).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return base64url(campaign) + "." + base64url(recipient) + "." + cut
    }
}
