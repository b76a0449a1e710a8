import Foundation

/// What `salvo suppress` asks of a store, so it runs on the SQLite store (`SalvoStore`)
/// and on PostgreSQL alike: the global list, and each list's own. An address already
/// suppressed keeps its first reason; addresses compare ignoring case.
public protocol SuppressionStore: Sendable {
    /// Adds addresses to the global list; returns how many were new. A bad address throws
    /// (`SuppressionError`) before any is added.
    func suppress(_ emails: [String], reason: SuppressionReason, detail: String?, now: Date) async throws -> Int
    /// Adds addresses to the suppressions of the list named `list` only.
    func suppress(_ emails: [String], list: String, reason: SuppressionReason, detail: String?, now: Date) async throws -> Int
    /// Takes addresses off the global list; returns how many were on it.
    func unsuppress(_ emails: [String]) async throws -> Int
    /// Takes addresses off one list's suppressions.
    func unsuppress(_ emails: [String], list: String) async throws -> Int
    /// The global list by address; `reason` narrows it.
    func suppressions(reason: SuppressionReason?) async throws -> [Suppression]
    /// The addresses suppressed on `list` (every list when nil), by list and address.
    func listSuppressions(list: String?) async throws -> [ListSuppression]
    /// Adds every address of a CSV file (`SuppressionFile`) to the global list.
    func importSuppressions(path: String, emailColumn: String?, reason: SuppressionReason,
                            keptRejects: Int, now: Date) async throws -> SuppressionImportReport
}

extension SalvoStore: SuppressionStore {}
