import Foundation
import GRDB

/// Writes that outlast another process's lock on the database.
///
/// SQLite has one writer at a time, and the writer may be another program: a second
/// `salvo send`, a cron `salvo run`, an import, a backup tool, someone's `sqlite3` shell
/// left inside a transaction. An outcome known from a server must never be lost to that:
/// a message is delivered whether or not its `sent` could be written at that moment.
///
/// Two layers. SQLite's busy handler waits inside each attempt (`busyMode`, a third of
/// `lockWait`). It is not called in every case a lock is met (a read transaction that
/// must become a write one when another writer moved the WAL on, a WAL being recovered
/// by another connection): those fail at once with `SQLITE_BUSY`, so the whole
/// transaction is tried again, in a fresh transaction, up to `lockAttempts` times. A write
/// that still cannot get through throws `StoreError.locked`, naming the database and how
/// long it waited; the caller says so (`Summary.lostOutcomes`, exit status 74).
extension SalvoStore {
    /// Attempts of one write transaction before giving up on a lock.
    static let lockAttempts = 3

    /// SQLite's wait for a lock within one attempt.
    static func busyTimeout(lockWait: TimeInterval) -> TimeInterval {
        max(0.001, lockWait / Double(lockAttempts))
    }

    /// `writer.write`, waited for and tried again while another connection holds the lock.
    func write<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await writer.write(updates)
            } catch let error as DatabaseError where Self.isLock(error) && attempt < Self.lockAttempts {
                attempt += 1
            } catch let error as DatabaseError where Self.isLock(error) {
                throw lockedError(error)
            }
        }
    }

    /// `writer.write` for a synchronous caller, waited for and tried again the same way.
    func writeNow<T>(_ updates: (Database) throws -> T) throws -> T {
        try outlastingLocks { try writer.write(updates) }
    }

    /// `writer.writeWithoutTransaction` for a caller that runs its own transaction (the
    /// engine's commit thread), waited for and tried again the same way.
    func writeWithoutTransactionNow<T>(_ updates: (Database) throws -> T) throws -> T {
        try outlastingLocks { try writer.writeWithoutTransaction(updates) }
    }

    private func outlastingLocks<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try body()
            } catch let error as DatabaseError where Self.isLock(error) && attempt < Self.lockAttempts {
                attempt += 1
            } catch let error as DatabaseError where Self.isLock(error) {
                throw lockedError(error)
            }
        }
    }

    private func lockedError(_ error: DatabaseError) -> StoreError {
        .locked(path: path, seconds: lockWait, reason: error.message ?? "\(error.resultCode)")
    }

    static func isLock(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }
}
