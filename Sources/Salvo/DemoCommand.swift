import ArgumentParser
import Campaigns
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Try Salvo on this machine: a fresh database, the sample list imported, segments counted.",
        discussion: """
            Uses samples/recipients.csv and samples/spring-sale.yml from the working directory \
            (the repository's root), or the starter project of `salvo init` elsewhere. \
            Nothing is sent anywhere.

            Example:
              swift run salvo demo
            """)

    @Option(help: ArgumentHelp("Folder holding recipients.csv and spring-sale.yml.", valueName: "DIR"))
    var samples: String = "samples"

    func run() throws {
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workspace) }

        var csv = (samples as NSString).appendingPathComponent("recipients.csv")
        var campaignFile = (samples as NSString).appendingPathComponent("spring-sale.yml")
        if !FileManager.default.fileExists(atPath: csv) {
            print("no \(csv) here: using the starter project of `salvo init`")
            _ = try StarterProject.write(to: workspace)
            csv = (workspace as NSString).appendingPathComponent("recipients.csv")
            campaignFile = (workspace as NSString).appendingPathComponent("welcome.yml")
        }
        let store = try SalvoStore(path: (workspace as NSString).appendingPathComponent("demo.db"))
        print("$ salvo import customers \(csv)")
        let report = try ListImport(listName: "customers", path: csv).run(in: store)
        print(report.summary)

        print("\n$ salvo lists")
        for list in try store.lists() {
            print("\(list.name): \(list.recipients) recipients; columns \(list.columns.joined(separator: ", "))")
        }

        let definition = try CampaignDefinition.load(path: campaignFile)
        let segments = [
            "country == \"NG\"",
            "tags contains \"food\"",
            definition.segment ?? "email exists",
            "signup_date >= \"2025-01-01\" and not country in [\"US\", \"GB\"]",
        ]
        print("\n$ salvo segment count customers EXPR")
        for segment in segments {
            print("\(String(try store.count(list: "customers", segment: segment)).padding(toLength: 6, withPad: " ", startingAt: 0)) \(segment)")
        }
        print("\nThe campaign in \(campaignFile) would go to \(try store.count(list: definition.list, segment: definition.segment)) recipients.")
    }
}
