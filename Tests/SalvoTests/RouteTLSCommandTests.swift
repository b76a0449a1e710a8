import Foundation
import Testing
import TestPeers

/// A route's own `tls` and `ca_file`, from the command line to the report, against real
/// aiosmtpd STARTTLS servers with a test CA: each route's sessions are recorded with the
/// TLS they had, and a certificate the route's CA did not sign delivers nothing.
@Suite struct RouteTLSCommandTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "s3cret-for-tests-s3cret-for-tests-s3cret"]

    @Test func eachAttemptRecordsTheTLSItsRouteAskedFor() async throws {
        let certificates = try TestCertificates.make()
        // A CA of its own, which signed none of the peers' certificates.
        let stranger = try TestCertificates.make()
        defer { certificates.remove(); stranger.remove() }
        let tls = ["--cert", certificates.certificateFile, "--key", certificates.keyFile]
        let verified = try await PythonSMTPPeer.start(tls)
        defer { verified.stop() }
        let required = try await PythonSMTPPeer.start(tls)
        defer { required.stop() }
        let untrusted = try await PythonSMTPPeer.start(tls)
        defer { untrusted.stop() }
        let plain = try await PythonSMTPPeer.start(tls)
        defer { plain.stop() }

        var csv = "email,first_name,last_name,country,tags\n"
        let domains = ["verified.test": 2, "required.test": 2, "plain.test": 2, "untrusted.test": 4]
        for (domain, count) in domains.sorted(by: { $0.key < $1.key }) {
            for i in 0..<count { csv += "r\(i)@\(domain),R,\(i),NG,new\n" }
        }
        // `delivery.tls: opportunistic` stays the default: every route says what it wants.
        let dir = try await SalvoBinary.initProject(editing: [
            ("    \"*\": 127.0.0.1:2525", """
                    verified.test: { to: "127.0.0.1:\(verified.port)", tls: verify, ca_file: "\(certificates.caFile)" }
                    required.test: { to: "127.0.0.1:\(required.port)", tls: required }
                    untrusted.test: { to: "127.0.0.1:\(untrusted.port)", tls: verify, ca_file: "\(stranger.caFile)" }
                    plain.test: { to: "127.0.0.1:\(plain.port)", tls: none }
                """),
        ], recipients: csv)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await importAndCreate(in: dir)

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 0, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stdout.contains("sent 6, deferred 4, bounced 0"), "\(sent.stdout) \(sent.stderr)")
        // Why the untrusted route delivered nothing: its server, and the certificate.
        let said = sent.stdout + sent.stderr
        #expect(said.contains("127.0.0.1:\(untrusted.port)") && said.contains("server certificate not trusted"), "\(said)")

        // The report, for every recipient.
        let report = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 10)
        for row in rows {
            let email = row["email"] as? String ?? ""
            let domain = String(email.split(separator: "@").last ?? "")
            let version = row["tls"] as? String
            let trusted = row["tls_verified"] as? Bool
            switch domain {
            case "verified.test":
                #expect(row["status"] as? String == "sent" && ["TLSv1.2", "TLSv1.3"].contains(version) && trusted == true, "\(row)")
            case "required.test":
                #expect(row["status"] as? String == "sent" && ["TLSv1.2", "TLSv1.3"].contains(version) && trusted == false, "\(row)")
            case "plain.test":
                #expect(row["status"] as? String == "sent" && row["tls"] is NSNull && row["tls_verified"] is NSNull, "\(row)")
            case "untrusted.test":
                #expect(row["status"] as? String == "deferred" && row["tls"] is NSNull && row["tls_verified"] is NSNull, "\(row)")
                #expect((row["response"] as? String)?.contains("server certificate not trusted") == true, "\(row)")
            default:
                Issue.record("unexpected recipient \(email)")
            }
        }
        let asCSV = try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir)
        let lines = asCSV.stdout.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.first?.hasSuffix(",last_attempt_at,tls,tls_verified,opened_at,clicked_at,unsubscribed_at,suppressed_by") == true, "\(lines.first ?? "")")
        #expect(lines.filter { $0.hasPrefix("r0@verified.test,sent,") }.allSatisfy { $0.hasSuffix(",true,,,,") } && lines.count == 11,
                "\(asCSV.stdout)")

        // The attempts table: one row per attempt, with the same facts.
        let attempts = try query(dir + "/salvo.db", """
            SELECT d.email, a.outcome, COALESCE(a.tls_version, '-'), COALESCE(a.tls_verified, '-')
            FROM attempts a JOIN deliveries d ON d.id = a.delivery_id ORDER BY d.email
            """)
        for line in attempts {
            let fields = line.split(separator: "|").map(String.init)
            guard fields.count == 4 else { Issue.record("attempt row \(line)"); continue }
            switch fields[0].split(separator: "@").last {
            case "verified.test": #expect(fields[1] == "sent" && fields[2].hasPrefix("TLSv1.") && fields[3] == "1", "\(line)")
            case "required.test": #expect(fields[1] == "sent" && fields[2].hasPrefix("TLSv1.") && fields[3] == "0", "\(line)")
            case "plain.test": #expect(fields[1] == "sent" && fields[2] == "-" && fields[3] == "-", "\(line)")
            default: #expect(fields[1] == "deferred" && fields[2] == "-" && fields[3] == "-", "\(line)")
            }
        }
        #expect(attempts.count == 10, "\(attempts)")

        // What the servers saw: mail inside TLS where a route asked for it, none over the
        // untrusted route, clear text where the route said none (though STARTTLS was offered).
        #expect(try verified.messages().count == 2 && required.messages().count == 2 && plain.messages().count == 2)
        #expect(try untrusted.messages().isEmpty && untrusted.events().allSatisfy { $0.event != "mail" })
        for peer in [verified, required] {
            let events = try peer.events()
            let mailed = Set(events.filter { $0.event == "mail" }.map(\.session))
            let encrypted = Set(events.filter { $0.event == "ehlo" && $0.tls == true }.map(\.session))
            #expect(!mailed.isEmpty && mailed.isSubset(of: encrypted), "\(events)")
        }
        #expect(try plain.events().allSatisfy { $0.event != "starttls" })
        let suppressed = try await SalvoBinary.run(["suppress", "list"], in: dir)
        #expect(!suppressed.stdout.contains(".test"), "nobody bounced, so nobody is suppressed: \(suppressed.stdout)")

        // A test send goes through the same connector: the routes' TLS holds for it too.
        let test = try await SalvoBinary.run(["send", "welcome", "--test-to", "seed@verified.test", "seed@untrusted.test"],
                                             in: dir, environment: secret)
        #expect(test.status == 1, "\(test.stdout) \(test.stderr)")
        #expect(test.stdout.contains("seed@verified.test: sent"), "\(test.stdout)")
        let refused = test.stdout.split(whereSeparator: \.isNewline).first { $0.contains("seed@untrusted.test:") } ?? ""
        #expect(refused.contains("failed") && refused.contains("server certificate not trusted"), "\(test.stdout)")
        let seeded = try verified.messages().filter { $0.rcpt_tos == ["seed@verified.test"] }
        let encrypted = Set(try verified.events().filter { $0.event == "ehlo" && $0.tls == true }.map(\.session))
        #expect(seeded.count == 1 && seeded.allSatisfy { encrypted.contains($0.session) }, "\(seeded)")
        #expect(try untrusted.messages().isEmpty)
    }

    /// The relay is the sender's own choice: a certificate its `ca_file` does not trust
    /// stops the send once, attempts nobody, and the command exits 78 naming the relay.
    @Test func anUntrustedRelayCertificateIsTheSendersFailure() async throws {
        let certificates = try TestCertificates.make()
        let stranger = try TestCertificates.make()
        defer { certificates.remove(); stranger.remove() }
        let relay = try await PythonSMTPPeer.start(["--cert", certificates.certificateFile, "--key", certificates.keyFile])
        defer { relay.stop() }
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<5 { csv += "r\(i)@d\(i).test,R,\(i),NG,new\n" }
        let dir = try await SalvoBinary.initProject(editing: [
            ("  mode: mx", """
                  mode: relay
                  relay: { host: 127.0.0.1, port: \(relay.port), tls: starttls, ca_file: "\(stranger.caFile)" }
                """),
            ("  routes:\n    \"*\": 127.0.0.1:2525", ""),
        ], recipients: csv)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await importAndCreate(in: dir)

        let sent = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(sent.status == 78, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stderr.contains("error: the sender's setup failed at") && sent.stderr.contains("127.0.0.1:\(relay.port)")
                && sent.stderr.contains("certificate"), "\(sent.stderr)")
        #expect(try relay.messages().isEmpty && relay.events().allSatisfy { $0.event != "mail" })
        let report = try await SalvoBinary.run(["report", "welcome", "--json"], in: dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 5)
        for row in rows {
            #expect(row["status"] as? String == "pending" && row["attempts"] as? Int == 0 && row["tls"] is NSNull, "\(row)")
        }
    }

    /// Imports the project's recipients and creates its welcome campaign.
    private func importAndCreate(in dir: String) async throws {
        for step in [["import", "customers", "recipients.csv"], ["campaign", "create", "welcome.yml"]] {
            let result = try await SalvoBinary.run(step, in: dir)
            #expect(result.status == 0, "salvo \(step.joined(separator: " ")): \(result.stderr)")
        }
    }

    /// Rows of `sql` against the database at `path`, fields joined by `|`, read with
    /// Python's sqlite3 module (an independent reader of the file).
    private func query(_ path: String, _ sql: String) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestPeers.executable("python3"))
        process.arguments = ["-c", """
            import sqlite3, sys
            for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
                print("|".join(str(v) for v in row))
            """, path, sql]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = try out.fileHandleForReading.readToEnd() ?? Data()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
