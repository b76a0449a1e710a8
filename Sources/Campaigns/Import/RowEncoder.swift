import MailMessage

/// Turns the reader's current record into the bytes the store keeps, or into the reason
/// it is rejected. Runs on the import's reading thread.
struct RowEncoder: Sendable {
    let header: ImportHeader
    /// For each of the list's attribute columns, the file column holding it (-1: the
    /// file has no such column, written as null).
    private let fieldForSlot: [Int]

    /// - Parameters:
    ///   - slots: for each file column, its index in the list's attribute array (nil for
    ///     the email column).
    ///   - width: the list's number of attribute columns.
    init(header: ImportHeader, slots: [Int?], width: Int) {
        self.header = header
        var map = [Int](repeating: -1, count: width)
        for (index, slot) in slots.enumerated() { if let slot { map[slot] = index } }
        fieldForSlot = map
    }

    /// The encoder of a file with `header` into a list whose columns (after this import)
    /// are `listColumns`.
    init(header: ImportHeader, listColumns: [String]) {
        var slotOfColumn: [String: Int] = [:]
        slotOfColumn.reserveCapacity(listColumns.count)
        for (index, column) in listColumns.enumerated() { slotOfColumn[column] = index }
        let slots = header.names.enumerated().map { index, name in
            index == header.emailIndex ? nil : slotOfColumn[name]
        }
        self.init(header: header, slots: slots, width: listColumns.count)
    }

    enum Row: Sendable {
        /// Ranges into the batch's byte buffer.
        /// `key` is the address as recipients are told apart (`RecipientKey`).
        case accepted(line: Int, email: Range<Int>, key: Range<Int>, attributes: Range<Int>)
        case rejected(ImportReject)
    }

    /// Appends the encoded record to `bytes`, returning where its parts are.
    func encode(_ reader: borrowing CSVReader, line: Int, into bytes: inout [UInt8]) -> Row {
        let count = header.names.count
        if reader.fieldCount != count {
            return reject(reader, line, "expected \(count) fields, found \(reader.fieldCount)")
        }
        let raw: String? = reader.withField(header.emailIndex) { field in
            var lower = 0, upper = field.count
            while lower < upper, field[lower] == 0x20 || field[lower] == 0x09 { lower += 1 }
            while upper > lower, field[upper - 1] == 0x20 || field[upper - 1] == 0x09 { upper -= 1 }
            return String(validating: UnsafeBufferPointer(rebasing: field[lower..<upper]), as: UTF8.self)
        }
        guard let raw else { return reject(reader, line, "column '\(header.names[header.emailIndex])' is not valid UTF-8") }
        if raw.isEmpty { return reject(reader, line, "empty email") }
        let address: EmailAddress
        do { address = try EmailAddress(raw) } catch { return reject(reader, line, "invalid email '\(raw)': \(error)") }

        let start = bytes.count
        bytes.append(contentsOf: address.localPart.utf8)
        bytes.append(UInt8(ascii: "@"))
        bytes.append(contentsOf: address.domain.utf8)
        let emailRange = start..<bytes.count
        let keyStart = bytes.count
        RecipientKey.append(localPart: address.localPart, domain: address.domain, to: &bytes)
        let keyRange = keyStart..<bytes.count

        // The attributes: a JSON array in the list's column order, null where this file
        // has no such column.
        let attributesStart = bytes.count
        bytes.append(UInt8(ascii: "["))
        for slot in 0..<fieldForSlot.count {
            if slot > 0 { bytes.append(UInt8(ascii: ",")) }
            let index = fieldForSlot[slot]
            if index < 0 {
                bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
                continue
            }
            let valid: Bool = reader.withField(index) { field in
                guard JSONText.isValidUTF8(field) else { return false }
                JSONText.appendString(field, to: &bytes)
                return true
            }
            if !valid {
                bytes.removeSubrange(start...)
                return reject(reader, line, "column '\(header.names[index])' is not valid UTF-8")
            }
        }
        bytes.append(UInt8(ascii: "]"))
        return .accepted(line: line, email: emailRange, key: keyRange, attributes: attributesStart..<bytes.count)
    }

    private func reject(_ reader: borrowing CSVReader, _ line: Int, _ reason: String) -> Row {
        var email: String?
        if reader.fieldCount > header.emailIndex, let text = reader.field(header.emailIndex) {
            email = text.utf8.count <= 80 ? text : String(text.prefix(77)) + "..."
        }
        return .rejected(ImportReject(line: line, email: email, reason: reason))
    }
}
