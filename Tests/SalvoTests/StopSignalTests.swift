import Foundation
import Testing
import TestPeers

/// SIGINT and SIGTERM through the built binary: `salvo run` and `salvo send` stop at any
/// point (what is on the wire is finished and recorded, the rest handed back) and exit
/// with status 75; a second signal ends them at once.
@Suite struct StopSignalTests {
    private let secret = ["SALVO_UNSUBSCRIBE_SECRET": "stop-signal-test-stop-signal-test-stop"]

    /// Recipients per state of `campaign`, as `salvo status --json` reads them.
    private func counts(_ campaign: String, in dir: String) async throws -> [String: Int] {
        let status = try await SalvoBinary.run(["status", campaign, "--json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        return object?["counts"] as? [String: Int] ?? [:]
    }

    /// A project whose mail goes to `port` at 2 messages a second, with two campaigns
    /// scheduled for now: `first` for the 2 GH recipients, then `second` for the 30 NG
    /// ones (fifteen seconds of sending).
    private func twoCampaigns(port: Int) async throws -> String {
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<2 { csv += "gh\(i)@example.com,G,\(i),GH,new\n" }
        for i in 0..<30 { csv += "ng\(i)@example.com,N,\(i),NG,new\n" }
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(port)"),
            ("default: { connections: 5,", "default: { rate: 2/s, connections: 5,"),
        ], recipients: csv)
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        let welcome = try String(contentsOfFile: dir + "/welcome.yml", encoding: .utf8)
        for (name, country) in [("first", "GH"), ("second", "NG")] {
            let definition = welcome.replacingOccurrences(of: "name: welcome", with: "name: \(name)")
                .replacingOccurrences(of: "segment: tags contains \"new\"", with: "segment: country == \"\(country)\"")
            try definition.write(toFile: dir + "/\(name).yml", atomically: true, encoding: .utf8)
            let created = try await SalvoBinary.run(["campaign", "create", "\(name).yml"], in: dir)
            #expect(created.status == 0, "\(created.stderr)")
            let scheduled = try await SalvoBinary.run(["schedule", name, "--at", "now"], in: dir)
            #expect(scheduled.status == 0, "\(scheduled.stderr)")
        }
        return dir
    }

    /// The signal lands while the second campaign sends (the first one is done): the run
    /// stops there, exits 75, and every delivery is final or back in the queue.
    @Test(arguments: [SIGTERM, SIGINT])
    func runStopsInItsSecondCampaign(signal: Int32) async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let dir = try await twoCampaigns(port: sink.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let running = try SalvoBinary.start(["run"], in: dir, environment: secret)
        let ngOnServer = {
            try sink.transactions().filter { $0.rcptArgs.contains { $0.hasPrefix("<ng") } }.count
        }
        #expect(try await TestPeers.eventually { try ngOnServer() > 0 || !running.process.isRunning })
        running.signal(signal)
        let result = await running.finished()
        #expect(!result.signalled && result.status == 75, "status \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("stopping: finishing the transactions in flight"), "\(result.stderr)")
        #expect(result.stderr.contains("interrupted: run the command again to resume"), "\(result.stderr)")
        #expect(result.stdout.contains("campaign 'first': sent 2"), "\(result.stdout)")

        let first = try await counts("first", in: dir)
        let second = try await counts("second", in: dir)
        #expect(first == ["sent": 2], "\(first)")
        // Stopped before the end: some sent, the rest pending again, nothing held.
        #expect(Set(second.keys).isSubset(of: ["sent", "pending"]), "\(second)")
        #expect((second["sent"] ?? 0) > 0 && (second["sent"] ?? 0) < 30, "\(second)")
        #expect((second["sent"] ?? 0) + (second["pending"] ?? 0) == 30, "\(second)")
        #expect(try ngOnServer() == second["sent"], "the server has what is recorded sent")

        // The next run sends the rest, each recipient once.
        let again = try await SalvoBinary.run(["run"], in: dir, environment: secret)
        #expect(again.status == 0, "\(again.stderr)")
        let rcpts = try sink.transactions().flatMap(\.rcptArgs)
        #expect(rcpts.count == 32 && Set(rcpts).count == 32, "\(rcpts.count)")
    }

    /// A second signal does not wait for the transaction on the wire (the server holds
    /// its DATA reply for 60 s): the send ends at once with 75, the message in doubt stays
    /// `sending`, and the next send recovers it as `unknown`.
    @Test func aSecondSignalStopsAtOnce() async throws {
        let sink = try await SMTPSinkPeer.start(options: ["-w", "60"])
        defer { sink.stop() }
        let dir = try await SalvoBinary.initProject(editing: [("127.0.0.1:2525", "127.0.0.1:\(sink.port)")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)

        let sending = try SalvoBinary.start(["send", "welcome"], in: dir, environment: secret)
        // A message is marked `sending` and its transaction is under way at the server,
        // the DATA reply held back.
        #expect(try await TestPeers.eventually(every: .milliseconds(200)) {
            guard try sink.transactionFileCount() > 0 else { return false }
            return (try await counts("welcome", in: dir)["sending"] ?? 0) > 0
        })
        sending.signal(SIGINT)
        sending.signal(SIGTERM)
        let result = await sending.finished(timeout: 50)
        #expect(!result.timedOut, "the second signal did not end the send")
        #expect(!result.signalled && result.status == 75, "status \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("stopping at once"), "\(result.stderr)")
        #expect(try sink.transactions().isEmpty)
        let states = try await counts("welcome", in: dir)
        #expect(states["sent"] == nil, "\(states)")

        // Recovered by the next start as after a crash: in doubt, never sent again silently.
        sink.stop()
        let again = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: secret)
        #expect(again.stdout.contains("in doubt (unknown)"), "\(again.stdout)")
    }
}
