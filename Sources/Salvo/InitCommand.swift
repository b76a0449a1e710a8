import ArgumentParser
import Campaigns

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
        print("next: salvo import customers recipients.csv && salvo campaign create welcome.yml")
    }
}
