import ArgumentParser
import Campaigns
import Foundation

/// `salvo bounces import PATH`: reads DSNs and complaints from a mailbox and applies
/// them to the store. The reading, parsing and matching live in Campaigns (Bounces/).
struct BouncesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bounces",
        abstract: "Process bounces (RFC 3464 DSNs) and complaints (RFC 5965 feedback reports).",
        subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read an mbox file or a Maildir folder of bounces and complaints and apply them.",
            discussion: """
                Hard bounces (Action: failed, Status 5.x.x) mark their delivery bounced and suppress \
                the address; delays are noted; complaints suppress the address. Each message is \
                matched by its VERP address, else the returned Message-ID, else the recipient's most \
                recent delivery. Importing the same messages again changes nothing. A message that \
                cannot be read is named on stderr and skipped.

                Examples:
                  salvo bounces import /var/mail/bounces
                  salvo bounces import ~/Maildir/.Bounces
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("An mbox file or a Maildir folder (pop3s://user@host is reserved for POP3S).", valueName: "PATH"))
        var path: String

        func run() async throws {
            let source = try BounceSourceLocation(path).source()
            let (configuration, store) = try global.openStore()
            let importer = BounceImport(verp: configuration.verpReader())
            let report = try await importer.run(source, into: store, onMalformed: { malformed in
                printError("malformed: \(malformed.place): \(malformed.reason)")
            })
            print(report.summary)
        }
    }
}
