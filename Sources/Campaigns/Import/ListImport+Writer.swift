/// One batch of an import's accepted rows, for a store outside this module (PostgreSQL):
/// each row's parts are ranges into `bytes`, as the SQLite store binds them. The rows are
/// sorted by address key, then line, as `ImportPipeline` hands them over.
public struct ImportBatch: Sendable {
    public struct Row: Sendable {
        /// The line of the file the row starts on.
        public var line: Int
        /// The address as written (domain lower-cased).
        public var email: Range<Int>
        /// The address as recipients are told apart (`RecipientKey`).
        public var key: Range<Int>
        /// A JSON array of strings and nulls, aligned with the list's columns (null: a
        /// column this file does not have).
        public var attributes: Range<Int>
    }

    public var bytes: [UInt8]
    public var rows: [Row]
}

extension ListImport {
    /// Imports into a store of another module, which keeps the list and the recipients:
    /// `existing` is the list's columns as stored (empty for a new list), `storeColumns`
    /// is given every column the list has after this import (those it had first, in their
    /// order, then the file's new ones; the attribute arrays follow that order), and
    /// `write` each batch of accepted rows, in file order. Rejects, progress and the
    /// header's renamings are reported here as for SQLite; the store fills in the
    /// report's `imported`, `updated` and `merged`, which only it can count.
    ///
    /// The rows are read and checked on their own thread; this task waits for each batch
    /// without holding a thread of the pool.
    public func run(existing: [String],
                    storeColumns: ([String]) async throws -> Void,
                    write: (ImportBatch) async throws -> Void) async throws -> ImportReport {
        var reader = try CSVReader(path: path)
        let headers = try readHeader(&reader)
        let (mapping, header) = try plan(headers: headers, existing: existing)
        let columns = Self.listColumns(existing, adding: header.attributeNames)
        try await storeColumns(columns)
        let pipeline = ImportPipeline(reader: reader)
        defer { pipeline.cancel() }
        pipeline.start(encoder: RowEncoder(header: header, listColumns: columns))
        var report = ImportReport()
        report.columns = mapping.renamed
        var read = 0
        while let batch = await pipeline.nextBatch() {
            read += batch.rows.count
            onProgress?(read)
            var accepted: [ImportBatch.Row] = []
            accepted.reserveCapacity(batch.rows.count)
            for row in batch.rows {
                switch row {
                case .rejected(let reject):
                    record(reject, in: &report)
                case .accepted(let line, let email, let key, let attributes):
                    accepted.append(ImportBatch.Row(line: line, email: email, key: key, attributes: attributes))
                }
            }
            if !accepted.isEmpty { try await write(ImportBatch(bytes: batch.bytes, rows: accepted)) }
        }
        if let error = pipeline.error { throw error }
        return report
    }
}
