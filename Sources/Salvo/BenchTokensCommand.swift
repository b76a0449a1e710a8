import ArgumentParser
import Foundation
import MailMessage

/// `salvo bench-tokens`: prints `/u/TOKEN` for COUNT made-up recipients of a campaign,
/// under the unsubscribe secret in the environment, for `scripts/bench serve` to post.
/// Hidden.
struct BenchTokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-tokens",
        abstract: "Print unsubscribe paths for made-up recipients (for scripts/bench serve).",
        shouldDisplay: false
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The campaign the tokens name.") var campaign: String = "bench"
    @Option(help: "How many recipients.") var count: Int = 10_000

    func run() throws {
        let variable = try global.configuration().unsubscribe.secretEnv
        guard let secret = ProcessInfo.processInfo.environment[variable], !secret.isEmpty else {
            throw ValidationError("\(variable) is not set")
        }
        let maker = UnsubscribeToken.Maker(campaign: campaign, secret: Array(secret.utf8))
        var out = ""
        out.reserveCapacity(count * 80)
        for i in 0..<count { out += "/u/" + maker.make(recipient: "bench\(i)@example.com") + "\n" }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
