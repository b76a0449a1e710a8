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
            abstract: "Read bounces and complaints from an mbox file, a Maildir folder or a POP3S mailbox and apply them.",
            discussion: """
                Hard bounces (Action: failed, Status 5.x.x) mark their delivery bounced and suppress \
                the address; delays are noted; complaints suppress the address. Each message is \
                matched by its VERP address, else the returned Message-ID, else the recipient's most \
                recent delivery. Importing the same messages again changes nothing. A message that \
                cannot be read is named on stderr and skipped.

                A POP3S mailbox (pop3s://USER@HOST[:PORT], port 995 by default; write an @ in \
                the user name as %40) is read with the password in SALVO_POP3_PASSWORD. \
                --delete removes each message from the server once it is recorded.

                Examples:
                  salvo bounces import /var/mail/bounces
                  salvo bounces import ~/Maildir/.Bounces
                  SALVO_POP3_PASSWORD=… salvo bounces import pop3s://bounces%40shop.example@mail.shop.example --delete
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("An mbox file, a Maildir folder, or pop3s://USER@HOST[:PORT].", valueName: "PATH"))
        var path: String

        @Option(name: .customLong("ca-file"), help: ArgumentHelp("Trust these CA certificates (PEM) for the POP3S server instead of the system store.", valueName: "FILE"))
        var caFile: String?

        @Flag(help: "Delete each POP3 message from the server once it is recorded.")
        var delete = false

        func run() async throws {
            let source = try BounceSourceLocation(path).source(caFile: caFile, deleteProcessed: delete)
            // An import, like `salvo import`: it may start an SQLite database (with suppressions).
            let report = try await global.withDatabase(create: true) { configuration, opened in
                let importer = BounceImport(verp: configuration.verpReader(), unsubscribeMailto: configuration.unsubscribeMailtoAddress(),
                                            unsubscribeSecret: try? configuration.unsubscribeSecret())
                return try await importer.run(source, into: opened.store, onMalformed: { malformed in
                    printError("malformed: \(malformed.place): \(malformed.reason)")
                }, onRefused: { refused in
                    printError("unsubscribe refused: \(refused.place): \(refused.reason)")
                })
            }
            print(report.summary)
        }
    }
}
