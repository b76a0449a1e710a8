import ArgumentParser
import Campaigns
import Delivery
import Foundation
import NIOConcurrencyHelpers
import SMTPServer

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Try Salvo on this machine: a whole campaign, end to end, into a capture server on loopback.",
        discussion: """
            A fresh database in a temporary folder; samples/recipients.csv imported; \
            samples/spring-sale.yml created; its segment sent through the real delivery engine \
            to `salvo sink` started on 127.0.0.1; what each recipient got printed. Run it from \
            the repository's root (elsewhere it uses the starter project of `salvo init`). \
            Nothing leaves the machine.

            Example:
              swift run salvo demo
            """)

    @Option(help: ArgumentHelp("Folder holding recipients.csv and spring-sale.yml.", valueName: "DIR"))
    var samples: String = "samples"

    @Option(help: ArgumentHelp("Keep the demo's database, configuration and captured messages in this folder.", valueName: "DIR"))
    var keep: String?

    func run() async throws {
        let workspace = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("salvo-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: workspace) } }

        var csv = (samples as NSString).appendingPathComponent("recipients.csv")
        var campaignFile = (samples as NSString).appendingPathComponent("spring-sale.yml")
        if !FileManager.default.fileExists(atPath: csv) {
            printNow("no \(csv) here: using the starter project of `salvo init`")
            _ = try StarterProject.write(to: workspace)
            csv = (workspace as NSString).appendingPathComponent("recipients.csv")
            campaignFile = (workspace as NSString).appendingPathComponent("welcome.yml")
        }

        // The capture server, on a free port of 127.0.0.1.
        let maildir = try Maildir(path: (workspace as NSString).appendingPathComponent("captured"))
        let captured = NIOLockedValueBox(0)
        let sink = try await SMTPSink.start(host: "127.0.0.1", port: 0) { message in
            let n = captured.withLockedValue { $0 += 1; return $0 }
            _ = try? maildir.store(message, sequence: n)
        }
        do {
            try await demonstrate(sink: sink, maildir: maildir, captured: captured, workspace: workspace, csv: csv, campaignFile: campaignFile)
        } catch {
            await sink.stop()
            throw error
        }
        await sink.stop()
    }

    private func demonstrate(sink: SMTPSink, maildir: Maildir, captured: NIOLockedValueBox<Int>, workspace: String,
                             csv: String, campaignFile: String) async throws {
        var configuration = SalvoConfiguration()
        configuration.helo = "demo.salvo.test"
        configuration.delivery.routes = ["*": .init(host: "127.0.0.1", port: sink.port)]
        let store = try SalvoStore(path: (workspace as NSString).appendingPathComponent("demo.db"))

        printNow("$ salvo import customers \(csv)")
        printNow(try ListImport(listName: "customers", path: csv).run(in: store).summary)

        let definition = try CampaignDefinition.load(path: campaignFile)
        printNow("\n$ salvo segment count customers '\(definition.segment ?? "email exists")'")
        printNow(String(try store.count(list: definition.list, segment: definition.segment)))

        printNow("\n$ salvo campaign create \(campaignFile)")
        try store.createCampaign(definition, sourcePath: campaignFile)
        printNow("created campaign '\(definition.name)'")

        printNow("\n$ salvo send \(definition.name)      # every domain routed to salvo sink on 127.0.0.1:\(sink.port)")
        // A throwaway secret for the demo's unsubscribe tokens.
        let environment = [configuration.unsubscribe.secretEnv: UUID().uuidString + UUID().uuidString]
        let began = Date()
        let result = try await CampaignSender(campaign: definition.name, store: store, configuration: configuration,
                                              environment: environment).run()
        SendReport.print(campaign: definition.name, result: result, seconds: Date().timeIntervalSince(began))

        printNow("\nWhat each recipient got (first 10):")
        for row in try store.deliveryReport(campaign: definition.name).prefix(10) {
            printNow("  \(row.email.padding(toLength: 34, withPad: " ", startingAt: 0)) \(row.status.padding(toLength: 8, withPad: " ", startingAt: 0)) \(row.smtpCode.map(String.init) ?? "-") \(row.messageID ?? "")")
        }
        printNow("\nThe sink captured \(captured.withLockedValue { $0 }) messages\(keep.map { " in \($0)/captured/new" } ?? "").")
        if let first = try FileManager.default.contentsOfDirectory(atPath: maildir.path + "/new").sorted().first {
            let text = try String(contentsOfFile: maildir.path + "/new/" + first, encoding: .utf8)
            let headers = text.components(separatedBy: "\r\n\r\n").first ?? ""
            printNow("The first one's headers:\n" + headers.split(separator: "\r\n").map { "  " + $0 }.joined(separator: "\n"))
        }
    }
}
