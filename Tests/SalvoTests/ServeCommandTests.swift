import Campaigns
import Foundation
import GRDB
import MailMessage
import Testing
import TestPeers

/// `salvo serve` as a user runs it, beside `salvo send`: the List-Unsubscribe URL of a
/// message that went out, POSTed as a mailbox provider does, keeps that address out of
/// the next campaign; a burst of unsubscribes during a send loses nothing and harms
/// nothing; SIGTERM stops the server cleanly.
@Suite(.serialized) struct ServeCommandTests {
    static let secret = "s3cret-for-the-serve-tests-long-enough-now"

    /// `salvo serve` started with its own signal mask (posix_spawn), so SIGTERM reaches it.
    final class Server {
        let pid: pid_t
        let port: Int
        let output: String
        private var status: Int32?

        init(dir: String, extraEnvironment: [String] = []) async throws {
            port = try TestPeers.freePort()
            output = dir + "/serve.out"
            pid = try TestPeers.spawnDaemon("/usr/bin/env", ["SALVO_UNSUBSCRIBE_SECRET=\(ServeCommandTests.secret)"] + extraEnvironment + [
                SalvoBinary.url.path, "serve", "--config", dir + "/salvo.yml", "--listen", "127.0.0.1:\(port)",
            ], output: output)
            // Ready when it accepts; the deadline only guards against a hang.
            let deadline = Date().addingTimeInterval(30)
            while !TestPeers.isAccepting(port: port) {
                var code: Int32 = 0
                if waitpid(pid, &code, WNOHANG) == pid {
                    throw PeerError("salvo serve exited before it listened: \(log)")
                }
                guard Date() < deadline else {
                    kill(pid, SIGKILL)
                    throw PeerError("salvo serve did not listen: \(log)")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        var log: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

        /// Sends `signal` and waits for the exit; returns the exit status.
        func stop(_ signal: Int32 = SIGTERM) -> Int32 {
            if let status { return status }
            kill(pid, signal)
            var code: Int32 = 0
            waitpid(pid, &code, 0)
            let exit = (code & 0x7f) == 0 ? (code >> 8) & 0xff : 128 + (code & 0x7f)
            status = exit
            return exit
        }

        deinit { _ = stop(SIGKILL) }
    }

    /// A new database of the private PostgreSQL server for one test, named in `environment`
    /// as `SALVO_DB` for every command; nil on SQLite (the project's own file).
    static func database(onPostgreSQL: Bool, environment: inout [String: String]) async throws -> TestDatabase? {
        guard onPostgreSQL else { return nil }
        let server = try await PostgresServer.shared()
        let database = TestDatabase(server: server, name: try await server.makeDatabase())
        environment["SALVO_DB"] = database.url
        return database
    }

    struct TestDatabase {
        let server: PostgresServer
        let name: String
        var url: String { server.url(name) }
        /// For `salvo serve`, started with an environment of its own.
        var environment: [String] { ["SALVO_DB=" + url] }
        func drop() { server.dropDatabase(name) }
    }

    /// The starter project sending to smtp-sink on `sinkPort`, its links starting with
    /// `https://example.com` (`web.public_url`).
    static func servedProject(sinkPort: Int) async throws -> String {
        try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sinkPort)"),
            ("retry:", "web:\n  public_url: https://example.com\n\nretry:"),
        ])
    }

    /// The path of an https List-Unsubscribe target, and the address it was for.
    static func unsubscribePaths(_ transactions: [SinkTransaction]) -> [String: String] {
        var paths: [String: String] = [:]
        for transaction in transactions {
            let text = String(decoding: transaction.message, as: UTF8.self)
            // smtp-sink writes LF line ends; the header may be folded: unfold it first.
            let unfolded = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n ", with: " ").replacingOccurrences(of: "\n\t", with: " ")
            guard let line = unfolded.components(separatedBy: "\n").first(where: { $0.lowercased().hasPrefix("list-unsubscribe:") }),
                  let start = line.range(of: "<https://"), let end = line[start.upperBound...].firstIndex(of: ">")
            else { continue }
            let url = String(line[start.lowerBound..<end].dropFirst())
            let path = "/" + url.dropFirst("https://".count).split(separator: "/", maxSplits: 1)[1]
            for recipient in transaction.rcptArgs { paths[String(recipient.dropFirst().dropLast())] = path }
        }
        return paths
    }

    /// On the project's SQLite file, and on a PostgreSQL database (`$SALVO_DB`) for every
    /// command, `salvo serve` included.
    @Test(arguments: [false, true])
    func aMessagesOwnUnsubscribeURLPostedAsAProviderWouldKeepsTheAddressOutOfTheNextCampaign(onPostgreSQL: Bool) async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await Self.servedProject(sinkPort: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = ["SALVO_UNSUBSCRIBE_SECRET": Self.secret]
        let database = try await Self.database(onPostgreSQL: onPostgreSQL, environment: &env)
        defer { database?.drop() }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir, environment: env).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir, environment: env).status == 0)
        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: env)
        #expect(sent.status == 0, "\(sent.stderr)")
        let paths = Self.unsubscribePaths(try sink.transactions())
        #expect(paths.count == 4)
        // The URL in the message names neither the address nor its parts.
        for (address, path) in paths {
            #expect(!path.lowercased().contains(address.lowercased()))
            #expect(!path.contains(Data(address.utf8).base64EncodedString().prefix(12)))
        }
        let yuki = try #require(paths["yuki.tanaka@example.net"])
        let ada = try #require(paths["ada.okafor@example.com"])

        // preview prints the same URL the message carried.
        let preview = try await SalvoBinary.run(["preview", "welcome", "--recipient", "yuki.tanaka@example.net"], in: dir, environment: env)
        #expect(preview.stdout.contains("<https://example.com\(yuki)>"), "\(preview.stdout)")

        let server = try await Server(dir: dir, extraEnvironment: database?.environment ?? [])
        let client = WebClient(port: server.port)
        // A scanner fetching Ada's link changes nothing; the provider's POST for Yuki does.
        #expect(try await client.send(.init("GET", ada)).status == 200)
        let posted = try await client.send(.oneClick(yuki))
        #expect(posted.status == 200 && posted.headers["location"] == nil)
        var tampered = Array(ada)
        tampered[8] = tampered[8] == "x" ? "y" : "x"
        #expect(try await client.send(.oneClick(String(tampered))).status == 404)

        let status = try await SalvoBinary.run(["status", "welcome", "--json"], in: dir, environment: env)
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(object?["unsubscribes"] as? [String: Int] == ["one_click": 1, "page": 0, "mail": 0, "preferences": 0], "\(status.stdout)")
        #expect(try await SalvoBinary.run(["status", "welcome"], in: dir, environment: env).stdout.contains("unsubscribes: 1 (one-click 1, page 0)"))
        // The report says when: Yuki has an unsubscribed_at, nobody else.
        let report = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir, environment: env)
        let rows = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]] ?? []
        let unsubscribed = rows.filter { $0["unsubscribed_at"] is String }.compactMap { $0["email"] as? String }
        #expect(unsubscribed == ["yuki.tanaka@example.net"], "\(report.stdout)")

        // The unsubscribe is from the campaign's list, not from everything.
        let suppressed = try await SalvoBinary.run(["suppress", "list", "--list", "customers"], in: dir, environment: env).stdout
        #expect(suppressed.contains("yuki.tanaka@example.net,unsubscribe"), "\(suppressed)")
        #expect(!suppressed.contains("ada.okafor"))
        #expect(try await SalvoBinary.run(["suppress", "list"], in: dir, environment: env).stdout == "email,reason,detail,created_at\n")

        // The next campaign over the same list skips Yuki.
        let second = try String(contentsOfFile: dir + "/welcome.yml", encoding: .utf8).replacingOccurrences(of: "name: welcome", with: "name: welcome-again")
        try second.write(toFile: dir + "/welcome-again.yml", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome-again.yml"], in: dir, environment: env).status == 0)
        let before = try sink.transactions().count
        let again = try await SalvoBinary.run(["send", "welcome-again"], in: dir, environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        let recipients = try sink.transactions().dropFirst(before).flatMap(\.rcptArgs).sorted()
        #expect(recipients == ["<ada.okafor@example.com>", "<kwame.mensah@example.net>", "<o'brien.sean@example.com>"])
        let againStatus = try await SalvoBinary.run(["status", "welcome-again"], in: dir, environment: env).stdout
        #expect(againStatus.contains("suppressed: list 1"), "\(againStatus)")

        // A campaign over another list still mails Yuki.
        #expect(try await SalvoBinary.run(["import", "partners", "recipients.csv"], in: dir, environment: env).status == 0)
        let partners = second.replacingOccurrences(of: "name: welcome-again", with: "name: partners-news")
            .replacingOccurrences(of: "list: customers", with: "list: partners")
        try partners.write(toFile: dir + "/partners-news.yml", atomically: true, encoding: .utf8)
        #expect(try await SalvoBinary.run(["campaign", "create", "partners-news.yml"], in: dir, environment: env).status == 0)
        let beforePartners = try sink.transactions().count
        let partnersSent = try await SalvoBinary.run(["send", "partners-news"], in: dir, environment: env)
        #expect(partnersSent.status == 0, "\(partnersSent.stderr)")
        #expect(try sink.transactions().dropFirst(beforePartners).flatMap(\.rcptArgs).contains("<yuki.tanaka@example.net>"))

        // SIGTERM: a graceful stop, status 0, and the log holds no token or address.
        #expect(server.stop(SIGTERM) == 0)
        let log = server.log
        #expect(log.contains("listening on http://127.0.0.1:\(server.port)"))
        #expect(log.contains("stopped"))
        #expect(log.contains("http.route=/u/{token}") || log.contains("\"http.route\": /u/{token}") || log.contains("/u/{token}"), "\(log)")
        for (address, path) in paths {
            #expect(!log.contains(address) && !log.contains(path.dropFirst(3)), "\(log)")
        }
    }

    /// 2,000 one-click POSTs from 20 clients at once while a campaign sends to smtp-sink:
    /// every one is answered 200 and recorded, and the send finishes with every
    /// recipient either delivered once or left out as suppressed.
    /// On SQLite and on PostgreSQL, whose database is then copied back to be read alike.
    @Test(arguments: [false, true])
    func aBurstOfUnsubscribesDuringASendLosesNothingAndHarmsNothing(onPostgreSQL: Bool) async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let count = 2000
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<count { csv += "user\(i)@\(["example.com", "example.net", "example.org"][i % 3]),U\(i),L,NG,new\n" }
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("messages_per_connection: 100", "messages_per_connection: 1000"),
        ], recipients: csv)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = ["SALVO_UNSUBSCRIBE_SECRET": Self.secret]
        let database = try await Self.database(onPostgreSQL: onPostgreSQL, environment: &env)
        defer { database?.drop() }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir, environment: env).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir, environment: env).status == 0)
        let server = try await Server(dir: dir, extraEnvironment: database?.environment ?? [])

        // The send runs as its own process while the burst arrives.
        let sendEnvironment = env
        let send = Task.detached { try await SalvoBinary.run(["send", "welcome"], in: dir, environment: sendEnvironment, timeout: 300) }
        let maker = UnsubscribeToken.Maker(campaign: "welcome", secret: Array(Self.secret.utf8))
        let emails = (0..<count).map { "user\($0)@\(["example.com", "example.net", "example.org"][$0 % 3])" }
        let burst = try await WebClient(port: server.port).burst(
            paths: emails.map { "/u/" + maker.make(recipient: $0) }, request: .oneClick("/"), concurrency: 20)
        let sent = try await send.value
        #expect(server.stop() == 0)

        #expect(burst.errors.isEmpty, "\(burst.errors.prefix(5))")
        #expect(burst.statuses == ["200": count])
        #expect(sent.status == 0, "\(sent.stderr)")

        if onPostgreSQL {
            let copied = try await SalvoBinary.run(["db", "copy", "--to", dir + "/copied.db"], in: dir, environment: env)
            #expect(copied.status == 0, "\(copied.stderr)")
        }
        let store = try SalvoStore(path: dir + (onPostgreSQL ? "/copied.db" : "/salvo.db"))
        let recorded = try store.unsubscribes(campaign: "welcome")
        #expect(recorded.count == count)
        #expect(Set(recorded.map(\.email)) == Set(emails))
        #expect(try store.listSuppressions(list: "customers").count == count)
        // The send: every recipient delivered at most once, and every one either
        // delivered or left out as suppressed; none failed or was lost.
        let delivered = try sink.transactions().flatMap(\.rcptArgs)
        #expect(delivered.count == Set(delivered).count)
        let states = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM deliveries GROUP BY state").reduce(into: [String: Int]()) { $0[$1["state"]] = $1["n"] }
        }
        #expect(states.keys.allSatisfy { ["sent", "suppressed"].contains($0) }, "\(states)")
        #expect((states["sent"] ?? 0) == delivered.count)
        #expect((states["sent"] ?? 0) + (states["suppressed"] ?? 0) == count)
    }
}
