/// Parses the segment language. The grammar, loosest binding first:
///
///     expr       := and ("or" and)*
///     and        := unary ("and" unary)*
///     unary      := "not" unary | primary
///     primary    := "(" expr ")" | field "exists" | field "contains" string
///                 | field "in" "[" value ("," value)* "]" | field op value
///     op         := "==" | "!=" | "<" | "<=" | ">" | ">="
///     field      := name of letters, digits, "_", "-", "." | `back-quoted name`
///     value      := "string" | 'string' | number
///
/// Strings take the escapes \" \' \\ \n \t \uXXXX. Keywords are case-insensitive.
public struct SegmentParser {
    private var tokens: [SegmentToken]
    private var index = 0
    private let source: String

    public static func parse(_ text: String) throws(SegmentError) -> SegmentExpression {
        var parser = SegmentParser(source: text, tokens: try SegmentLexer.tokens(of: text))
        let expression = try parser.parseOr()
        if let extra = parser.peek {
            throw SegmentError("expected 'and', 'or' or the end, found \(extra.kind.display)", column: extra.column, in: text)
        }
        return expression
    }

    private init(source: String, tokens: [SegmentToken]) {
        self.source = source
        self.tokens = tokens
    }

    private var peek: SegmentToken? { index < tokens.count ? tokens[index] : nil }
    private var endColumn: Int { source.count + 1 }

    private mutating func take() -> SegmentToken? {
        defer { index += 1 }
        return peek
    }

    private func error(_ message: String, at token: SegmentToken?) -> SegmentError {
        SegmentError(message, column: token?.column ?? endColumn, in: source)
    }

    private mutating func parseOr() throws(SegmentError) -> SegmentExpression {
        var lhs = try parseAnd()
        while case .keyword("or") = peek?.kind {
            index += 1
            lhs = .or(lhs, try parseAnd())
        }
        return lhs
    }

    private mutating func parseAnd() throws(SegmentError) -> SegmentExpression {
        var lhs = try parseUnary()
        while case .keyword("and") = peek?.kind {
            index += 1
            lhs = .and(lhs, try parseUnary())
        }
        return lhs
    }

    private mutating func parseUnary() throws(SegmentError) -> SegmentExpression {
        if case .keyword("not") = peek?.kind {
            index += 1
            return .not(try parseUnary())
        }
        return try parsePrimary()
    }

    private mutating func parsePrimary() throws(SegmentError) -> SegmentExpression {
        let token = take()
        switch token?.kind {
        case .leftParen:
            let inner = try parseOr()
            guard case .rightParen = peek?.kind else {
                throw error("expected ')' to close the '(' at column \(token!.column)", at: peek)
            }
            index += 1
            return inner
        case .field(let name):
            return try parseCondition(on: name)
        case nil:
            throw error("expected a condition such as country == \"NG\"", at: nil)
        case .some(let kind):
            throw error("expected a field name, found \(kind.display)", at: token)
        }
    }

    private mutating func parseCondition(on field: String) throws(SegmentError) -> SegmentExpression {
        let token = take()
        switch token?.kind {
        case .keyword("exists"):
            return .exists(field: field)
        case .keyword("contains"):
            let valueToken = take()
            guard case .string(let text) = valueToken?.kind else {
                throw error("'contains' takes a string, as in tags contains \"food\"", at: valueToken)
            }
            return .contains(field: field, value: text)
        case .keyword("in"):
            let open = take()
            guard case .leftBracket = open?.kind else { throw error("expected '[' after 'in'", at: open) }
            var values: [SegmentValue] = [try parseValue()]
            while true {
                let next = take()
                switch next?.kind {
                case .comma: values.append(try parseValue())
                case .rightBracket: return .isIn(field: field, values: values)
                default: throw error("expected ',' or ']' in the list of values", at: next)
                }
            }
        case .comparison(let op):
            return .comparison(field: field, op: op, value: try parseValue())
        default:
            throw error("expected ==, !=, <, <=, >, >=, contains, in or exists after '\(field)'", at: token)
        }
    }

    private mutating func parseValue() throws(SegmentError) -> SegmentValue {
        let token = take()
        switch token?.kind {
        case .string(let text): return .string(text)
        case .number(let value, let text): return .number(value, text: text)
        default: throw error("expected a quoted string or a number", at: token)
        }
    }
}

/// A segment that does not parse; `description` shows the expression with a caret
/// under the column where the problem is.
public struct SegmentError: Error, Equatable, CustomStringConvertible {
    public let message: String
    /// 1-based, in characters.
    public let column: Int
    public let expression: String

    init(_ message: String, column: Int, in expression: String) {
        self.message = message
        self.column = column
        self.expression = expression
    }

    public var description: String {
        "segment, column \(column): \(message)\n  \(expression)\n  \(String(repeating: " ", count: max(0, column - 1)))^"
    }
}
