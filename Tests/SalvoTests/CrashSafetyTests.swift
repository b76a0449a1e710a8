import Foundation
import Testing
import TestPeers

/// `kill -9` at random moments of a send, then resume until done: every recipient reaches
/// the server exactly once, except those reported `unknown` (at most once), and `unknown`
/// never exceeds the connections that were open at each kill.
@Suite struct CrashSafetyTests {
    @Test func killedSendsResumeWithoutLosingOrDuplicatingAnyone() async throws {
        let recipients = Int(ProcessInfo.processInfo.environment["SALVO_SOAK_RECIPIENTS"] ?? "") ?? 20000
        let connections = 5
        let sink = try await SMTPSinkPeer.start(backlog: 200)
        defer { sink.stop() }
        var csv = "email,first_name,last_name,country,tags\n"
        for i in 0..<recipients { csv += "user\(i)@d\(i % 10).example,User,\(i),NG,new\n" }
        let dir = try await SalvoBinary.initProject(editing: [
            ("127.0.0.1:2525", "127.0.0.1:\(sink.port)"),
            ("default: { connections: 5,", "default: { connections: \(connections),"),
        ], recipients: csv)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await SalvoBinary.run(["import", "customers", "recipients.csv"], in: dir).status == 0)
        #expect(try await SalvoBinary.run(["campaign", "create", "welcome.yml"], in: dir).status == 0)
        let environment = ProcessInfo.processInfo.environment.merging(["SALVO_UNSUBSCRIBE_SECRET": "soak-soak-soak-soak-soak-soak-soak-soak", "SALVO_CONFIG": ""]) { $1 }

        // Each kill lands after a random number of messages reached the server in that run
        // (sometimes none: a kill during start-up), so the moments are spread over the
        // send however fast this machine is, and every run but the last is cut short.
        var generator = SeededGenerator(seed: 2026)
        var kills = 0
        var completed = false
        let stderrPath = dir + "/send.stderr"
        for _ in 0..<40 where !completed {
            let before = try sink.transactionFileCount()
            let remaining = recipients - before
            let after = generator.next() % 8 == 0 ? 0 : 1 + Int(generator.next() % UInt64(max(1, min(600, remaining / 2))))
            FileManager.default.createFile(atPath: stderrPath, contents: nil)
            let process = Process()
            process.executableURL = SalvoBinary.url
            process.arguments = ["send", "welcome"]
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
            try process.run()
            let deadline = ContinuousClock.now + .seconds(60)
            while process.isRunning, ContinuousClock.now < deadline, try sink.transactionFileCount() - before < after {
                try await Task.sleep(for: .milliseconds(after == 0 ? 20 : 2))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
            completed = process.terminationReason == .exit && process.terminationStatus == 0
            if process.terminationReason == .exit && !completed {
                let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                Issue.record("salvo send exited \(process.terminationStatus) without being killed: \(stderr)")
                break
            }
        }
        // Whatever a last kill left: one more, undisturbed run.
        let last = try await SalvoBinary.run(["send", "welcome"], in: dir, environment: ["SALVO_UNSUBSCRIBE_SECRET": "soak-soak-soak-soak-soak-soak-soak-soak"], timeout: 300)
        #expect(last.status == 0, "\(last.stderr)")
        #expect(kills > 0)

        let report = try await SalvoBinary.run(["report", "welcome", "--csv", "-"], in: dir).stdout
        var states: [String: String] = [:]
        for line in report.split(separator: "\r\n").dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            states[String(fields[0])] = String(fields[1])
        }
        #expect(states.count == recipients)
        let received = try sink.receivedCounts()
        let unknown = states.filter { $0.value == "unknown" }.map(\.key)
        #expect(received.values.allSatisfy { $0 == 1 }, "a recipient received a message twice")
        for (email, state) in states {
            switch state {
            case "sent": #expect(received[email] == 1, "\(email) is sent but the server has \(received[email] ?? 0)")
            case "unknown": #expect((received[email] ?? 0) <= 1)
            default: Issue.record("\(email) ended \(state)")
            }
        }
        #expect(unknown.count <= kills * connections, "\(unknown.count) unknown after \(kills) kills")
    }
}
