import ArgumentParser
import Campaigns
import Foundation

struct ListsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lists",
        abstract: "Show the lists with their recipient counts and columns.",
        discussion: "Example:\n  salvo lists")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (_, store) = try global.openStore()
        let lists = try store.lists()
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

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Work with segments of a list.",
        subcommands: [Count.self])

    struct Count: ParsableCommand {
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

        func run() throws {
            let (_, store) = try global.openStore()
            print(try store.count(list: list, segment: expression))
        }
    }
}
