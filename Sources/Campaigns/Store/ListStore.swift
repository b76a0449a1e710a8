import Foundation

/// What `salvo lists`, `salvo recipients` and `salvo segment` ask of a store, so they run
/// on the SQLite store (`SalvoStore`) and on PostgreSQL alike, with the same results and
/// the same errors (`StoreError.listNotFound`, `SegmentFieldError`, `ListInUseError`,
/// `ListNameError`).
public protocol ListStore: Sendable {
    /// The lists not deleted, by name, with their recipient counts and columns.
    func lists() async throws -> [ListSummary]

    /// Renames a list; campaigns that use it follow, since they refer to it by id.
    func renameList(_ old: String, to new: String) async throws

    /// Deletes a list and its recipients, or retires it when finished or cancelled
    /// campaigns used it (their deliveries keep the recipients they mailed).
    func deleteList(named name: String, now: Date) async throws -> ListDeletion

    /// Takes addresses out of a list, whatever their case; an address a campaign has a
    /// delivery for stays.
    func removeRecipients(list: String, emails: [String]) async throws -> RecipientRemoval

    /// How many recipients of `list` the segment selects (all of them for nil).
    func count(list: String, segment: String?) async throws -> Int

    /// Writes the recipients of `list` that `segment` selects as CSV (`ListExport`), in
    /// import order, to `output` in chunks; returns how many were written.
    func exportCSV(list: String, segment: String?, to output: (Data) throws -> Void) async throws -> Int

    /// Calls `body` with every recipient of `list` that `segment` selects, in import order
    /// (for `salvo send --dry-run`, which must not change the store).
    func forEachRecipient(list: String, segment: String?, _ body: (StoredRecipient) throws -> Void) async throws
}

extension SalvoStore: ListStore {}

/// Everything the commands ask of a store: what both stores do.
public typealias SalvoDatabase = TestSendStore & ListStore & SuppressionStore & BounceStore

extension ListNameError {
    /// The name checked as `renameList` checks it: not empty, no spaces at its ends, no
    /// line break.
    public static func check(_ name: String) throws {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed == name, !name.contains(where: { $0.isNewline }) else {
            throw ListNameError(name: name)
        }
    }
}

/// A list's recipients as the CSV `salvo import` reads back: the header `email` and the
/// list's columns, then one row per recipient, quoted per RFC 4180 with CRLF line ends,
/// handed on in chunks of about 64 KiB. Values are written as stored (not defused for
/// spreadsheets: that would change them).
public struct ListExport {
    private let columns: [String]
    private let output: (Data) throws -> Void
    private var chunk = ""
    public private(set) var count = 0

    public init(columns: [String], output: @escaping (Data) throws -> Void) {
        self.columns = columns
        self.output = output
        chunk.reserveCapacity(1 << 16)
        chunk += (["email"] + columns).map(CSVField.quote).joined(separator: ",") + "\r\n"
    }

    /// One recipient: its address and its values aligned with the columns (nil: none).
    public mutating func append(email: String, values: [String?]) throws {
        chunk += CSVField.quote(email)
        for index in columns.indices {
            chunk += ","
            if index < values.count, let value = values[index] { chunk += CSVField.quote(value) }
        }
        chunk += "\r\n"
        count += 1
        if chunk.utf8.count >= 1 << 16 {
            try output(Data(chunk.utf8))
            chunk.removeAll(keepingCapacity: true)
        }
    }

    /// Hands on what is left; returns how many recipients were written.
    public mutating func finish() throws -> Int {
        if !chunk.isEmpty { try output(Data(chunk.utf8)) }
        chunk = ""
        return count
    }
}
