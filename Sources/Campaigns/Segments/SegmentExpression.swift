/// A parsed segment: which recipients of a list a campaign goes to.
///
/// `country == "NG" and tags contains "food"`, `age >= 18`, `plan in ["pro", "team"]`,
/// `not phone exists`. Field names are the list's columns plus `email` and `domain`.
public indirect enum SegmentExpression: Equatable, Sendable {
    case comparison(field: String, op: ComparisonOperator, value: SegmentValue)
    case contains(field: String, value: String)
    case isIn(field: String, values: [SegmentValue])
    case exists(field: String)
    case not(SegmentExpression)
    case and(SegmentExpression, SegmentExpression)
    case or(SegmentExpression, SegmentExpression)

    public enum ComparisonOperator: String, Sendable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }

    /// Every field the expression reads, for checking them against a list's columns.
    public var fields: Set<String> {
        switch self {
        case .comparison(let field, _, _), .contains(let field, _), .isIn(let field, _), .exists(let field):
            [field]
        case .not(let inner):
            inner.fields
        case .and(let lhs, let rhs), .or(let lhs, let rhs):
            lhs.fields.union(rhs.fields)
        }
    }
}

/// A literal in a segment. A number compares as a number; a string as text.
public enum SegmentValue: Equatable, Sendable {
    case string(String)
    case number(Double, text: String)
}
