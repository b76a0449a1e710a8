import ArgumentParser
import Campaigns
import Foundation

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a CSV file into a list (created if new; existing recipients are updated).",
        discussion: """
            The file needs a header row with an email column (any case); every other column \
            becomes an attribute for segments and templates. Bad rows are reported with their \
            line number and skipped; the good rows are imported in one transaction.

            Example:
              salvo import customers samples/recipients.csv --rejects rejects.csv
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The list to import into.")
    var list: String

    @Argument(help: "The CSV file (RFC 4180, UTF-8).")
    var file: String

    @Option(help: ArgumentHelp("The column that holds the address, when it is not called 'email'.", valueName: "NAME"))
    var emailColumn: String?

    @Option(help: ArgumentHelp("Write every rejected row (line, email, reason) to this CSV file.", valueName: "FILE"))
    var rejects: String?

    func run() throws {
        let (_, store) = try global.openStore()
        var importer = ListImport(listName: list, path: file, emailColumn: emailColumn)
        let rejectsFile = try rejects.map { try RejectsFile(path: $0) }
        if let rejectsFile {
            importer.onReject = { rejectsFile.write($0) }
        }
        let progress = ProgressLine(unit: "rows read")
        importer.onProgress = { progress.update($0) }
        let report = try importer.run(in: store)
        progress.finish()
        try rejectsFile?.close()
        for reject in report.rejects {
            printError("\(file):\(reject.line): \(reject.reason)")
        }
        if report.rejected > report.rejects.count {
            printError("... and \(report.rejected - report.rejects.count) more rejected rows\(rejects == nil ? " (list them all with --rejects FILE)" : " (all in \(rejects!))")")
        }
        print(report.summary)
    }
}

/// The `--rejects` output: a CSV of line, email, reason, written as rows are rejected.
final class RejectsFile: @unchecked Sendable {
    private let handle: FileHandle
    private let path: String
    private var buffer = Data()

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ValidationError("cannot create the rejects file \(path)")
        }
        self.path = path
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer.append(Data("line,email,reason\r\n".utf8))
    }

    func write(_ reject: ImportReject) {
        buffer.append(Data("\(reject.line),\(CSVField.quote(reject.email ?? "")),\(CSVField.quote(reject.reason))\r\n".utf8))
        if buffer.count > 1 << 16 { flush() }
    }

    private func flush() {
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        flush()
        try handle.close()
    }
}
