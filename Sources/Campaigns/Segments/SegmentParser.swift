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
///
/// Nesting is bounded: at most `maxNesting` parentheses and `not`s inside one another
/// (the parser recurses once per level, and 20,000 levels overflowed its stack; SQLite's
/// own parser overflows at 26 levels of alternating `and`/`or` in parentheses), and an
/// expression tree at most
/// `maxDepth` deep, which keeps the SQL it becomes under SQLite's expression depth
/// limit of 1,000.
public struct SegmentParser {
    public static let maxNesting = 20
    public static let maxDepth = 256

    private var tokens: [SegmentToken]
    private var index = 0
    private let source: String
    private var nesting = 0

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

    /// An expression and the depth of its tree.
    private typealias Parsed = (expression: SegmentExpression, depth: Int)

    private func checked(_ parsed: Parsed, at token: SegmentToken?) throws(SegmentError) -> Parsed {
        if parsed.depth > Self.maxDepth {
            throw error("the expression is more than \(Self.maxDepth) levels deep (each 'and' or 'or' of a chain is one); split the segment", at: token)
        }
        return parsed
    }

    private mutating func parseOr() throws(SegmentError) -> SegmentExpression { try parseOrDepth().expression }

    private mutating func parseOrDepth() throws(SegmentError) -> Parsed {
        var lhs = try parseAnd()
        while case .keyword("or") = peek?.kind {
            let token = take()
            let rhs = try parseAnd()
            lhs = try checked((.or(lhs.expression, rhs.expression), max(lhs.depth, rhs.depth) + 1), at: token)
        }
        return lhs
    }

    private mutating func parseAnd() throws(SegmentError) -> Parsed {
        var lhs = try parseUnary()
        while case .keyword("and") = peek?.kind {
            let token = take()
            let rhs = try parseUnary()
            lhs = try checked((.and(lhs.expression, rhs.expression), max(lhs.depth, rhs.depth) + 1), at: token)
        }
        return lhs
    }

    private mutating func enter(_ token: SegmentToken?) throws(SegmentError) {
        nesting += 1
        if nesting > Self.maxNesting {
            throw error("nested more than \(Self.maxNesting) levels deep (parentheses and 'not' inside one another)", at: token)
        }
    }

    private mutating func parseUnary() throws(SegmentError) -> Parsed {
        if case .keyword("not") = peek?.kind {
            let token = take()
            try enter(token)
            let inner = try parseUnary()
            nesting -= 1
            return try checked((.not(inner.expression), inner.depth + 1), at: token)
        }
        return try parsePrimary()
    }

    private mutating func parsePrimary() throws(SegmentError) -> Parsed {
        let token = take()
        switch token?.kind {
        case .leftParen:
            try enter(token)
            let inner = try parseOrDepth()
            nesting -= 1
            guard case .rightParen = peek?.kind else {
                throw error("expected ')' to close the '(' at column \(token!.column)", at: peek)
            }
            index += 1
            return inner
        case .field(let name):
            return (try parseCondition(on: name), 1)
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
