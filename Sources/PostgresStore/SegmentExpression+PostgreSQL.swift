import Campaigns
import PostgresNIO

/// A segment as a PostgreSQL condition over `recipients` aliased `r`, meaning what the
/// SQLite condition (`SegmentExpression.sql(columns:)`) means, row for row:
///
/// - every leaf is two-valued (a missing attribute makes a comparison false, never NULL),
///   so `not country == "NG"` takes the recipients with no country too;
/// - text compares byte by byte (`COLLATE "C"`, SQLite's BINARY), whatever the database's
///   collation;
/// - a number compares with what parses as one (`SegmentNumber`'s grammar, blanks around it
///   allowed) as `numeric`, which has no range to overflow, where SQLite takes a double.
///
/// Every literal and every attribute name is a bound parameter; nothing from the segment is
/// written into the SQL text.
struct PostgresSegmentSQL {
    private(set) var bindings = PostgresBindings()

    /// `expression`'s condition, binding its values after those already bound.
    mutating func condition(_ expression: SegmentExpression) -> String {
        switch expression {
        case .comparison(let field, let op, let value):
            let accessor = accessor(field)
            switch value {
            case .number(let number, _):
                return "COALESCE(\(Self.number(accessor)) \(Self.sqlOperator(op)) \(bind("\(number)"))::numeric, false)"
            case .string(let text):
                switch op {
                case .equal: return "(\(accessor) IS NOT DISTINCT FROM \(bind(text)))"
                case .notEqual: return "(\(accessor) IS DISTINCT FROM \(bind(text)))"
                default: return "COALESCE(\(accessor) COLLATE \"C\" \(Self.sqlOperator(op)) \(bind(text)), false)"
                }
            }
        case .contains(let field, let value):
            return "COALESCE(strpos(\(accessor(field)), \(bind(value))) > 0, false)"
        case .isIn(let field, let values):
            let accessor = accessor(field)
            let numbers = values.compactMap { if case .number(let n, _) = $0 { n } else { nil } }
            if numbers.count == values.count {
                let list = numbers.map { "\(bind("\($0)"))::numeric" }.joined(separator: ", ")
                return "COALESCE(\(Self.number(accessor)) IN (\(list)), false)"
            }
            let texts = values.map { value -> String in
                switch value {
                case .string(let text): bind(text)
                case .number(_, let text): bind(text)
                }
            }
            return "COALESCE(\(accessor) IN (\(texts.joined(separator: ", "))), false)"
        case .exists(let field):
            return "(COALESCE(\(accessor(field)), '') <> '')"
        case .not(let inner):
            return "(NOT \(condition(inner)))"
        case .and, .or:
            // Flat, as on SQLite: a long chain of one operator is one level of parentheses.
            let isAnd = if case .and = expression { true } else { false }
            let parts = expression.chainOperands.map { condition($0) }
            return "(\(parts.joined(separator: isAnd ? " AND " : " OR ")))"
        }
    }

    /// The recipients of the list with id `list` that `segment` selects (all of them
    /// without one), as a condition over `recipients r`. A NULL address key marks a case
    /// variant merged away, as on SQLite.
    mutating func selection(list: Int64, segment: String?) throws -> String {
        var selected = "true"
        if let segment { selected = condition(try SegmentParser.parse(segment)) }
        return "r.list_id = \(bind(list)) AND r.address_key IS NOT NULL AND \(selected)"
    }

    /// A text parameter, `$n::text`.
    mutating func bind(_ text: String) -> String {
        bindings.append(text)
        return "$\(bindings.count)::text"
    }

    /// A bigint parameter, `$n::bigint`.
    mutating func bind(_ value: Int64) -> String {
        bindings.append(value)
        return "$\(bindings.count)::bigint"
    }

    /// The built-in fields are columns; any other is an attribute, its name bound.
    private mutating func accessor(_ field: String) -> String {
        switch field {
        case "email": "r.email"
        case "domain": "r.domain"
        default: "(r.attributes ->> \(bind(field)))"
        }
    }

    /// `text` as a number when it is one by `SegmentNumber`'s grammar, else NULL.
    private static func number(_ text: String) -> String {
        """
        (CASE WHEN btrim(\(text), E' \\t') ~ '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$' \
        THEN btrim(\(text), E' \\t')::numeric END)
        """
    }

    private static func sqlOperator(_ op: SegmentExpression.ComparisonOperator) -> String {
        op == .equal ? "=" : op.rawValue
    }
}
