import ArgumentParser
import Campaigns
import Foundation

struct ListsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lists",
        abstract: "Show, rename, delete and export lists.",
        discussion: """
            Examples:
              salvo lists
              salvo lists rename customers customers-2026
              salvo lists export customers --segment 'country == "NG"' --csv nigeria.csv
              salvo lists delete old-leads
            """,
        subcommands: [Show.self, Rename.self, Delete.self, Export.self],
        defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show the lists with their recipient counts and columns (what `salvo lists` does).",
            discussion: "Example:\n  salvo lists")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let lists = try await global.withDatabase { store in try await store.lists() }
            if lists.isEmpty {
                print("no lists yet: import one with `salvo import LIST FILE.csv`")
                return
            }
            let width = max(4, lists.map(\.name.count).max() ?? 4)
            print("\("LIST".padding(toLength: width, withPad: " ", startingAt: 0))  RECIPIENTS  COLUMNS")
            for list in lists {
                let count = String(list.recipients)
                print("\(list.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(String(repeating: " ", count: max(0, 10 - count.count)))\(count)  \(list.columns.joined(separator: ", "))")
            }
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rename a list; the campaigns that use it follow.",
            discussion: "Example:\n  salvo lists rename customers customers-2026")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The list's name.") var old: String
        @Argument(help: "Its new name.") var new: String

        func run() async throws {
            try await global.withDatabase { store in try await store.renameList(old, to: new) }
            print("list '\(old)' renamed to '\(new)'")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a list and its recipients (refused while a draft, scheduled, running or paused campaign uses it, naming the campaigns).",
            discussion: """
                A list whose campaigns are all finished or cancelled (archived ones too) can \
                go: those campaigns keep their reports, so the recipients they mailed stay \
                in the database, in no list, and `salvo campaign list` names the list \
                'NAME (deleted TIME)'. The name is free for a new import.

                Example:
                  salvo lists delete old-leads
                """)

        @OptionGroup var options: ListArguments

        func run() async throws {
            let deletion = try await options.global.withDatabase { store in try await store.deleteList(named: options.list, now: Date()) }
            print("list '\(options.list)' deleted with its \(deletion.recipients) recipients")
            if !deletion.keptFor.isEmpty {
                print("the recipients campaign \(deletion.keptFor.map { "'\($0)'" }.joined(separator: ", ")) mailed are kept for \(deletion.keptFor.count == 1 ? "its" : "their") report")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a list's recipients (or a segment of them) as CSV that `salvo import` reads back.",
            discussion: """
                Columns: email, then the list's columns, in import order; RFC 4180, CRLF line ends.

                Examples:
                  salvo lists export customers --csv customers.csv
                  salvo lists export customers --segment 'plan == "pro"' --csv - | head
                """)

        @OptionGroup var options: ListArguments
        @Option(help: ArgumentHelp("Only the recipients this segment expression selects.", valueName: "EXPR")) var segment: String?
        @Option(help: ArgumentHelp("Where to write the CSV (- for standard output).", valueName: "FILE")) var csv: String

        func run() async throws {
            let configuration = try options.global.configuration()
            if csv != "-" { try OutputFile.check(csv, against: options.global.readFiles(configuration)) }
            let count = try await options.global.withDatabase { store in
                // Checked (list, segment) before the output file is touched.
                _ = try await store.count(list: options.list, segment: segment)
                if csv == "-" {
                    return try await store.exportCSV(list: options.list, segment: segment) { FileHandle.standardOutput.write($0) }
                }
                let output = try CreatedFile(path: csv)
                let count = try await store.exportCSV(list: options.list, segment: segment) { try output.write($0) }
                try output.close()
                return count
            }
            if csv != "-" { print("wrote \(count) recipients to \(csv)") }
        }
    }
}

/// `salvo recipients remove`: recipients one at a time.
struct RecipientsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipients",
        abstract: "Work with single recipients of a list.",
        subcommands: [Remove.self])

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take addresses out of a list (any case).",
            discussion: """
                An address a campaign has delivered to stays in the list, since the campaign's \
                history refers to it; the command names the campaign. `salvo suppress add` \
                stops all mail to an address.

                Example:
                  salvo recipients remove customers ann@example.com bob@example.org
                """)

        @OptionGroup var options: ListArguments
        @Argument(help: "The addresses.") var emails: [String]

        func run() async throws {
            let removal = try await options.global.withDatabase { store in try await store.removeRecipients(list: options.list, emails: emails) }
            for email in removal.invalid { printError("'\(email)' is not an email address") }
            for email in removal.notInList { printError("\(email) is not in list '\(options.list)'") }
            for kept in removal.kept {
                printError("\(kept.email) kept: campaign \(kept.campaigns.map { "'\($0)'" }.joined(separator: ", ")) has deliveries for it (salvo suppress add \(kept.email) stops mail to it)")
            }
            print("removed \(removal.removed.count) of \(emails.count) addresses from list '\(options.list)'")
            if !removal.invalid.isEmpty || !removal.kept.isEmpty { throw ExitCode.failure }
        }
    }
}

/// A file a command writes: created (or truncated) with the user's default mode.
final class CreatedFile {
    private let handle: FileHandle

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ValidationError("cannot create \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func write(_ data: Data) throws { try handle.write(contentsOf: data) }
    func close() throws { try handle.close() }
}

struct SegmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Work with segments of a list.",
        subcommands: [Count.self])

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count the recipients of a list that a segment expression selects.",
            discussion: """
                Operators: == != < <= > >= (numbers compare as numbers), contains, in [...], \
                exists, and, or, not, parentheses. Strings in double or single quotes.

                Examples:
                  salvo segment count customers 'country == "NG" and tags contains "food"'
                  salvo segment count customers 'age >= 18 and not country in ["US", "CA"]'
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The list.")
        var list: String

        @Argument(help: "The segment expression (quote it for the shell).")
        var expression: String

        func run() async throws {
            print(try await global.withDatabase { store in try await store.count(list: list, segment: expression) })
        }
    }
}
