@testable import Campaigns
import Foundation
import GRDB
import Testing

@Suite struct StoreFileTests {
    private func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
    }

    @Test func openingWithoutCreateLeavesNothingBehind() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: StoreError.noDatabase(dir + "/salvo.db")) { try SalvoStore(path: dir + "/salvo.db", create: false) }
        #expect(StoreError.noDatabase("salvo.db").description == "no database at salvo.db: run salvo init, or pass --db")
        #expect(throws: StoreError.noDatabase(dir + "/typo/deeper/x.db")) { try SalvoStore(path: dir + "/typo/deeper/x.db", create: false) }
        // Creating needs the folder too: none is made for a mistyped path.
        #expect(throws: StoreError.self) { try SalvoStore(path: dir + "/typo/x.db", create: true) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [])
    }

    @Test func aNewDatabaseAndItsLogAreTheOwnersOnly() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/new.db"
        let store = try SalvoStore(path: path, create: true)
        let csv = writeFile(Array("email\na@example.com\n".utf8), in: dir)
        _ = try ListImport(listName: "l", path: csv).run(in: store)
        #expect(mode(path) == 0o600)
        #expect(mode(path + "-wal") == 0o600)
        #expect(mode(path + "-shm") == 0o600)
        // And a reader opens it without create.
        #expect(try SalvoStore(path: path, create: false).count(list: "l", segment: nil) == 1)
    }

    @Test func sqliteErrorsNameTheDatabaseAndWhatToDo() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/not.db"
        try Data(String(repeating: "this is not a database\n", count: 400).utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SalvoStore(path: path, create: false)
            Issue.record("a text file opened as a database")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("database \(path): not a SQLite database"), "\(text)")
            #expect(text.hasSuffix("pass the right file with --db"))
            #expect(!text.contains("\n"))
        }
    }
}

@Suite struct OutputFileTests {
    @Test func anOutputThatIsAnInputIsRefusedWhateverItsName() throws {
        let (_, dir) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = writeFile(Array("email\na@example.com\n".utf8), in: dir)
        let inputs = [(role: "file being imported", path: input), (role: "database", path: dir + "/fresh.db")]
        try FileManager.default.linkItem(atPath: input, toPath: dir + "/hard.csv")
        try FileManager.default.createSymbolicLink(atPath: dir + "/soft.csv", withDestinationPath: input)
        for name in [input, dir + "/./list.csv", dir + "/hard.csv", dir + "/soft.csv", dir + "/fresh.db"] {
            #expect(throws: OutputFileError.self, "\(name)") { try OutputFile.check(name, against: inputs) }
        }
        try OutputFile.check(dir + "/rejects.csv", against: inputs)
        do {
            try OutputFile.check(dir + "/hard.csv", against: inputs)
        } catch {
            #expect(error.description == "\(dir)/hard.csv is the file being imported (\(input)): writing it would destroy it; name another file")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == Data("email\na@example.com\n".utf8))
    }
}
