@testable import Campaigns
import Foundation
import Testing

@Suite struct SuppressionTests {
    @Test func addListRemoveAreCaseInsensitive() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try store.suppress(["Ann@Example.COM", "bob@example.com"], reason: .manual, now: at(5)) == 2)
        #expect(try store.suppress(["ann@example.com"], reason: .complaint) == 0)  // first reason kept
        #expect(try store.isSuppressed("ANN@example.com"))
        let all = try store.suppressions()
        #expect(all.map(\.email) == ["Ann@example.com", "bob@example.com"])  // domain lower-cased, local part as written
        #expect(all[0].reason == "manual" && all[0].createdAt == at(5))
        #expect(try store.suppressions(reason: .complaint).isEmpty)
        #expect(try store.unsuppress(["ANN@EXAMPLE.COM", "nobody@example.com"]) == 1)
        #expect(!(try store.isSuppressed("ann@example.com")))
        #expect(throws: SuppressionError.self) { try store.suppress(["fine@example.com", "not an address"], reason: .manual) }
        #expect(try store.suppressions().count == 1)  // nothing of the refused call was added
    }

    @Test func importReadsACSVAndNamesBadRows() throws {
        let (store, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try store.suppress(["old@example.com"], reason: .manual)
        let path = writeFile(Array("Email,Reason\na@example.com,complaint\nOLD@example.com,\nbad,\nc@example.com,weird\nd@example.com\ne@example.com,unsubscribe\n".utf8),
                             in: folder, name: "suppress.csv")
        let report = try store.importSuppressions(path: path)
        #expect(report.summary == "added 2, already suppressed 1, rejected 3")
        #expect(report.rejects.map(\.line) == [4, 5, 6])
        #expect(report.rejects[1].reason.contains("unknown reason 'weird'"))
        let reasons = Dictionary(uniqueKeysWithValues: try store.suppressions().map { ($0.email, $0.reason) })
        #expect(reasons == ["a@example.com": "complaint", "e@example.com": "unsubscribe", "old@example.com": "manual"])
        #expect(try store.importSuppressions(path: path).added == 0)  // importing twice changes nothing
    }
}
