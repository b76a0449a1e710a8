/// How the columns of an import file become a list's fields.
///
/// Lists come out of Mailchimp, Brevo, HubSpot, Klaviyo and spreadsheets with headers
/// like `Email Address`, `E-mail`, `First Name` or `FNAME`. A template or a segment needs
/// a plain name (`{{first_name}}`, `first_name == "Ann"`), so each header is mapped once,
/// at import, in this order:
///
/// 1. `--map 'HEADER=field'` (a header named the same ignoring case), `field` being `email`
///    for the address column;
/// 2. a column the list already has under that exact name keeps it (a list imported
///    before keeps its fields);
/// 3. a header the big tools use for a field Salvo knows (`Email Address` → the address,
///    `First Name`/`FNAME` → `first_name`, `Phone Number` → `phone`, …);
/// 4. any other header that is not a plain name is lower-cased with every run of spaces
///    and punctuation made one `_` (`Favourite Colour` → `favourite_colour`);
/// 5. a plain name (letters, digits, `_`, `-`, not starting with a digit or `-`) stays as
///    it is.
///
/// Every header that changed is named in the result, so the command can say so.
public struct HeaderMapping: Sendable, Equatable {
    /// One file column and what it became.
    public struct Column: Sendable, Equatable {
        public var header: String
        /// The field name (for the address column: "email").
        public var field: String
        public var reason: Reason
    }

    public enum Reason: Sendable, Equatable {
        /// The header is used as it is.
        case asWritten
        /// `--map` said so.
        case mapped
        /// A header the export tools use for this field.
        case known
        /// Lower-cased, spaces and punctuation made `_`.
        case normalised
    }

    public var columns: [Column]
    public var emailIndex: Int

    /// The columns whose field is not their header, for the command's output.
    public var renamed: [Column] { columns.filter { $0.reason != .asWritten } }

    /// Maps `headers` (trimmed, non-empty, distinct ignoring case: `ListImport` checks).
    ///
    /// - Parameters:
    ///   - explicit: `--map` pairs, header → field.
    ///   - emailColumn: `--email-column`, the header of the address column.
    ///   - existing: the list's columns so far.
    /// - Throws: `ImportError` naming the place (file, line 1) and what to do.
    public static func map(headers: [String], explicit: [(header: String, field: String)] = [], emailColumn: String? = nil,
                           existing: [String] = [], path: String) throws(ImportError) -> HeaderMapping {
        // Everything keyed so that each header is looked at once: a header of 200,000
        // columns costs 200,000 dictionary look-ups, not 200,000².
        var indexByLowercased: [String: Int] = [:]
        indexByLowercased.reserveCapacity(headers.count)
        for (index, header) in headers.enumerated() { indexByLowercased[header.lowercased()] = index }

        var fieldForIndex: [Int: (String, Reason)] = [:]
        for pair in explicit {
            guard let index = indexByLowercased[pair.header.lowercased()] else {
                throw .unknownMappedColumn(path: path, header: pair.header, found: headers)
            }
            let field = pair.field.lowercased() == "email" ? "email" : pair.field
            guard isPlainName(field) else { throw .badMappedName(header: pair.header, field: pair.field) }
            fieldForIndex[index] = (field, .mapped)
        }

        var emailIndex: Int?
        if let emailColumn {
            guard let index = indexByLowercased[emailColumn.lowercased()] else {
                throw .noEmailColumn(path: path, wanted: emailColumn, found: headers)
            }
            emailIndex = index
        } else if let index = fieldForIndex.first(where: { $0.value.0 == "email" })?.key {
            emailIndex = index
        } else {
            // The first header that is an address header by name, exact "email" first.
            emailIndex = indexByLowercased["email"]
                ?? headers.indices.first { fieldForIndex[$0] == nil && knownFields[key(headers[$0])] == "email" }
        }
        guard let emailIndex else { throw .noEmailColumn(path: path, wanted: "email", found: headers) }

        let existingColumns = Set(existing)
        var columns: [Column] = []
        columns.reserveCapacity(headers.count)
        var indexByField: [String: Int] = [:]
        indexByField.reserveCapacity(headers.count)
        for (index, header) in headers.enumerated() {
            let column: Column
            if index == emailIndex {
                column = Column(header: header, field: "email", reason: header.lowercased() == "email" ? .asWritten : (fieldForIndex[index]?.1 ?? .known))
            } else if let (field, reason) = fieldForIndex[index] {
                column = Column(header: header, field: field, reason: reason)
            } else if existingColumns.contains(header) {
                column = Column(header: header, field: header, reason: .asWritten)
            } else if let known = knownFields[key(header)], known != "email" {
                column = Column(header: header, field: known, reason: known == header ? .asWritten : .known)
            } else if isPlainName(header) {
                column = Column(header: header, field: header, reason: .asWritten)
            } else {
                let field = normalised(header)
                column = Column(header: header, field: field.isEmpty ? "column_\(index + 1)" : field, reason: .normalised)
            }
            if column.field == "email", index != emailIndex {
                throw .duplicateField(path: path, first: emailIndex + 1, second: index + 1, field: "email", headers: (headers[emailIndex], header))
            }
            if let earlier = indexByField[column.field] {
                throw .duplicateField(path: path, first: earlier + 1, second: index + 1, field: column.field,
                                      headers: (headers[earlier], header))
            }
            indexByField[column.field] = index
            columns.append(column)
        }
        return HeaderMapping(columns: columns, emailIndex: emailIndex)
    }

    /// A name a template tag and a bare segment field take as it is.
    public static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: "-"), !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }

    /// The field a header becomes when it is neither mapped, known nor plain: lower-cased,
    /// every run of characters other than letters and digits made one `_`, none at the
    /// ends (`State / Region` → `state_region`). Letters beyond ASCII are kept.
    public static func normalised(_ header: String) -> String {
        var out = ""
        var pendingSeparator = false
        for character in header.lowercased() {
            if character.isLetter || character.isNumber {
                if pendingSeparator, !out.isEmpty { out.append("_") }
                pendingSeparator = false
                out.append(character)
            } else {
                pendingSeparator = true
            }
        }
        return out
    }

    /// What a header is looked up by among the known ones: lower-cased, without spaces,
    /// `_`, `-`, `.` or `/` (`E-mail Address`, `email_address` and `EmailAddress` meet).
    static func key(_ header: String) -> String {
        String(header.lowercased().filter { !" _-./".contains($0) })
    }

    /// Headers of the common export tools for the fields templates usually name, by `key`.
    static let knownFields: [String: String] = {
        let groups: [String: [String]] = [
            "email": ["email", "emailaddress", "e-mail", "mail", "emailaddr", "contactemail", "subscriberemail", "primaryemail"],
            "first_name": ["firstname", "fname", "givenname", "forename"],
            "last_name": ["lastname", "lname", "surname", "familyname"],
            "name": ["fullname", "name", "contactname"],
            "phone": ["phone", "phonenumber", "mobilephone", "mobilenumber", "cellphone", "telephone"],
            "company": ["company", "companyname", "organization", "organisation"],
            "country": ["country", "countrycode"],
            "city": ["city"],
            "region": ["stateregion", "stateprovince", "region", "province"],
            "postal_code": ["zip", "zipcode", "postalcode", "postcode"],
            "tags": ["tags"],
            "birthday": ["birthday", "dateofbirth", "birthdate"],
        ]
        var table: [String: String] = [:]
        for (field, headers) in groups { for header in headers { table[key(header)] = field } }
        return table
    }()
}
