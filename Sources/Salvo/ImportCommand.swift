import ArgumentParser
import Campaigns
import Foundation

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a CSV file into a list (created if new; existing recipients are updated).",
        discussion: """
            The file needs a header row with an address column: 'email' in any case, or a \
            header the export tools use ('Email Address', 'E-mail', ...), or the one named \
            with --email-column. Every other column becomes a field for segments and \
            templates: the common export headers become Salvo's names ('First Name' and \
            'FNAME' become first_name, 'Last Name' last_name, 'Phone Number' phone), any \
            other header with spaces or punctuation is lower-cased with '_' for them \
            ('Favourite Colour' becomes favourite_colour), and --map names a field \
            yourself. Each column imported under another name is named in the output.

            Addresses are told apart ignoring case: a row whose address differs only in \
            case from one already in the list (or earlier in the file) updates that \
            recipient, whose first spelling is kept; the output says how many were merged.

            Bad rows are reported with their line number and skipped; the good rows are \
            imported in one transaction. This command creates the database if there is none.

            Examples:
              salvo import customers samples/recipients.csv --rejects rejects.csv
              salvo import customers mailchimp-export.csv --map 'Member Rating=rating'
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The list to import into.")
    var list: String

    @Argument(help: "The CSV file (RFC 4180, UTF-8).")
    var file: String

    @Option(help: ArgumentHelp("The column that holds the address, when it is not called 'email'.", valueName: "NAME"))
    var emailColumn: String?

    @Option(help: ArgumentHelp("Write every rejected row (line, email, reason) to this CSV file (never one the command reads).", valueName: "FILE"))
    var rejects: String?

    @Option(name: .customLong("map"),
            help: ArgumentHelp("Import column HEADER as field NAME ('email' for the address column); repeatable.", valueName: "HEADER=NAME"))
    var maps: [String] = []

    func mappings() throws -> [(header: String, field: String)] {
        try maps.map { pair in
            guard let equals = pair.lastIndex(of: "=") else {
                throw ValidationError("--map '\(pair)': write HEADER=NAME, as in --map 'First Name=first_name'")
            }
            let header = pair[..<equals].trimmingCharacters(in: .whitespaces)
            let field = pair[pair.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !header.isEmpty, !field.isEmpty else {
                throw ValidationError("--map '\(pair)': write HEADER=NAME, as in --map 'First Name=first_name'")
            }
            return (header, field)
        }
    }

    func run() async throws {
        let mappings = try mappings()
        let configuration = try global.configuration()
        // Before anything is opened for writing: the rejects file is truncated when opened.
        if let rejects {
            try OutputFile.check(rejects, against: [("file being imported", file)] + global.readFiles(configuration))
        }
        try await global.withDatabase(create: true) { _, store in try await run(mappings: mappings, store: store) }
    }

    private func run(mappings: [(header: String, field: String)], store: OpenedStore) async throws {
        var importer = ListImport(listName: list, path: file, emailColumn: emailColumn)
        importer.mappings = mappings
        let rejectsFile = try rejects.map { try RejectsFile(path: $0) }
        if let rejectsFile {
            importer.onReject = { rejectsFile.write($0) }
        }
        let progress = ProgressLine(unit: "rows read")
        importer.onProgress = { progress.update($0) }
        let report = switch store {
        case .sqlite(let store): try store.explainingErrors { try importer.run(in: store) }
        case .postgres(let store): try await store.importList(importer, now: Date())
        }
        progress.finish()
        for column in report.columns {
            switch column.reason {
            case .asWritten: break
            case .mapped: print("column '\(column.header)' imported as \(column.field) (--map)")
            case .known, .normalised:
                print(column.field == "email" ? "column '\(column.header)' holds the addresses"
                                              : "column '\(column.header)' imported as \(column.field)")
            }
        }
        try rejectsFile?.close()
        for reject in report.rejects {
            printError("\(file):\(reject.line): \(reject.reason)")
        }
        if report.rejected > report.rejects.count {
            printError("... and \(report.rejected - report.rejects.count) more rejected rows\(rejects == nil ? " (list them all with --rejects FILE)" : " (all in \(rejects!))")")
        }
        print(report.summary)
        if report.merged > 0 {
            print("merged \(report.merged) \(report.merged == 1 ? "row whose address differs" : "rows whose addresses differ") only in case from one already in the list or earlier in the file (the first spelling is kept)")
        }
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
