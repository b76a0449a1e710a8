import ArgumentParser
import Campaigns
import Foundation

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a starter salvo.yml, a campaign, its templates and a small list.",
        discussion: """
            Example:
              salvo init shop && cd shop && salvo import customers recipients.csv
            """)

    @Argument(help: "The folder to write into (created if needed).")
    var directory: String = "."

    func run() throws {
        for path in try StarterProject.write(to: directory) {
            print("wrote \(path)")
        }
        // The database, so that every other command finds it (only init and import create one).
        let configuration = try SalvoConfiguration.load(path: (directory as NSString).appendingPathComponent("salvo.yml"))
        let store = try SalvoStore(path: configuration.database, create: true)
        print("created the database \(store.path)")
        print("next: salvo import customers recipients.csv && salvo campaign create welcome.yml")
    }
}
