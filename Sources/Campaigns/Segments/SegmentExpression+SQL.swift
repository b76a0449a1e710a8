import Foundation
import GRDB

extension SegmentExpression {
    /// The expression as a SQL condition over `recipients` aliased `r`. Every literal and
    /// every attribute path is a bound argument: no value is ever spliced into SQL text.
    ///
    /// Each leaf is two-valued (a missing attribute makes a comparison false, never NULL),
    /// so `not country == "NG"` includes the recipients with no country at all.
    ///
    /// `columns` are the list's attribute names in the order of its attribute arrays.
    public func sql(columns: [String]) -> SQL {
        let accessor = { (field: String) in Self.accessor(field, columns: columns) }
        switch self {
        case .comparison(let field, let op, let value):
            switch value {
            case .number(let number, _):
                return "COALESCE(salvo_number(\(accessor(field))) \(sql: op.rawValue == "==" ? "=" : op.rawValue) \(number), 0)"
            case .string(let text):
                switch op {
                case .equal: return "(\(accessor(field)) IS \(text))"
                case .notEqual: return "(\(accessor(field)) IS NOT \(text))"
                default: return "COALESCE(\(accessor(field)) \(sql: op.rawValue) \(text), 0)"
                }
            }
        case .contains(let field, let value):
            return "COALESCE(instr(\(accessor(field)), \(value)) > 0, 0)"
        case .isIn(let field, let values):
            let numbers = values.compactMap { if case .number(let n, _) = $0 { n } else { nil } }
            if numbers.count == values.count {
                let list = numbers.map { SQL("\($0)") }.joined(separator: ", ")
                return "COALESCE(salvo_number(\(accessor(field))) IN (\(list)), 0)"
            }
            let texts = values.map { value -> SQL in
                switch value {
                case .string(let text): SQL("\(text)")
                case .number(_, let text): SQL("\(text)")
                }
            }
            return "COALESCE(\(accessor(field)) IN (\(texts.joined(separator: ", "))), 0)"
        case .exists(let field):
            return "(COALESCE(\(accessor(field)), '') <> '')"
        case .not(let inner):
            return "(NOT \(inner.sql(columns: columns)))"
        case .and, .or:
            // A chain of one operator is written flat, `(a AND b AND c)`: SQLite's parser
            // overflows its stack after a few dozen nested parentheses, and a flat chain
            // of hundreds of terms is fine.
            let isAnd = if case .and = self { true } else { false }
            let parts = chainOperands.map { $0.sql(columns: columns) }
            return "(\(parts.joined(separator: isAnd ? " AND " : " OR ")))"
        }
    }

    /// The operands of the chain of one operator this `and` or `or` heads, left to right:
    /// `a and (b and c)` and `(a and b) and c` are both `[a, b, c]`; an operand of the other
    /// operator (or a leaf) is one operand. Empty for any other expression. Each store's
    /// SQL writes a chain flat, one level of parentheses however long it is.
    public var chainOperands: [SegmentExpression] {
        let isAnd: Bool
        switch self {
        case .and: isAnd = true
        case .or: isAnd = false
        default: return []
        }
        var operands: [SegmentExpression] = []
        var pending = [self]
        while let next = pending.popLast() {
            switch (next, isAnd) {
            case (.and(let lhs, let rhs), true), (.or(let lhs, let rhs), false):
                pending.append(rhs)
                pending.append(lhs)
            default:
                operands.append(next)
            }
        }
        return operands
    }

    /// The built-in fields are columns; every other field is a JSON attribute, its path
    /// bound as an argument.
    private static func accessor(_ field: String, columns: [String]) -> SQL {
        switch field {
        case "email": return "r.email"
        case "domain": return "salvo_domain(r.email)"
        default:
            guard let index = columns.firstIndex(of: field) else { return "NULL" }
            return "json_extract(r.attributes, \("$[\(index)]"))"
        }
    }
}

/// SQL functions the segment conditions call; registered on every connection.
enum SegmentFunctions {
    static let number = DatabaseFunction("salvo_number", argumentCount: 1, pure: true) { values in
        switch values[0].storage {
        case .int64(let n): return Double(n)
        case .double(let d): return d
        case .string(let s):
            return SegmentNumber.parse(s.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }

    /// The domain of a stored address: what follows its last "@".
    static let domain = DatabaseFunction("salvo_domain", argumentCount: 1, pure: true) { values in
        guard let email = String.fromDatabaseValue(values[0]), let at = email.lastIndex(of: "@") else { return nil }
        return String(email[email.index(after: at)...])
    }

    static func register(in db: Database) {
        db.add(function: number)
        db.add(function: domain)
    }
}
