struct SegmentToken: Equatable {
    enum Kind: Equatable {
        case field(String)
        case keyword(String)  // and, or, not, in, contains, exists (lower-cased)
        case string(String)
        case number(Double, text: String)
        case comparison(SegmentExpression.ComparisonOperator)
        case leftParen, rightParen, leftBracket, rightBracket, comma

        var display: String {
            switch self {
            case .field(let name): "'\(name)'"
            case .keyword(let word): "'\(word)'"
            case .string(let text): "the string \"\(text)\""
            case .number(_, let text): "the number \(text)"
            case .comparison(let op): "'\(op.rawValue)'"
            case .leftParen: "'('"
            case .rightParen: "')'"
            case .leftBracket: "'['"
            case .rightBracket: "']'"
            case .comma: "','"
            }
        }
    }

    var kind: Kind
    /// 1-based character column of the token's first character.
    var column: Int
}

enum SegmentLexer {
    private static let keywords: Set<String> = ["and", "or", "not", "in", "contains", "exists"]

    static func tokens(of text: String) throws(SegmentError) -> [SegmentToken] {
        let chars = Array(text)
        var tokens: [SegmentToken] = []
        var i = 0
        func fail(_ message: String, _ at: Int) -> SegmentError { SegmentError(message, column: at + 1, in: text) }

        while i < chars.count {
            let c = chars[i]
            let start = i
            if c.isWhitespace { i += 1; continue }
            switch c {
            case "(": tokens.append(.init(kind: .leftParen, column: start + 1)); i += 1
            case ")": tokens.append(.init(kind: .rightParen, column: start + 1)); i += 1
            case "[": tokens.append(.init(kind: .leftBracket, column: start + 1)); i += 1
            case "]": tokens.append(.init(kind: .rightBracket, column: start + 1)); i += 1
            case ",": tokens.append(.init(kind: .comma, column: start + 1)); i += 1
            case "=", "!", "<", ">":
                let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
                let op: SegmentExpression.ComparisonOperator
                switch (c, next) {
                case ("=", "="): op = .equal; i += 2
                case ("!", "="): op = .notEqual; i += 2
                case ("<", "="): op = .lessOrEqual; i += 2
                case (">", "="): op = .greaterOrEqual; i += 2
                case ("<", _): op = .less; i += 1
                case (">", _): op = .greater; i += 1
                case ("=", _): throw fail("use '==' to compare", start)
                default: throw fail("use 'not' or '!=' for negation", start)
                }
                tokens.append(.init(kind: .comparison(op), column: start + 1))
            case "\"", "'":
                i += 1
                var value = ""
                var closed = false
                while i < chars.count {
                    let d = chars[i]
                    if d == c { closed = true; i += 1; break }
                    if d == "\\" {
                        guard i + 1 < chars.count else { break }
                        let e = chars[i + 1]
                        switch e {
                        case "\"", "'", "\\": value.append(e); i += 2
                        case "n": value.append("\n"); i += 2
                        case "t": value.append("\t"); i += 2
                        case "u":
                            let hex = i + 6 <= chars.count ? String(chars[(i + 2)..<(i + 6)]) : ""
                            guard hex.count == 4, let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
                                throw fail("\\u needs four hex digits", i)
                            }
                            value.unicodeScalars.append(scalar); i += 6
                        default: throw fail("unknown escape '\\\(e)'", i)
                        }
                        continue
                    }
                    value.append(d); i += 1
                }
                if !closed { throw fail("string is not closed", start) }
                tokens.append(.init(kind: .string(value), column: start + 1))
            case "`":
                guard let close = chars[(i + 1)...].firstIndex(of: "`") else { throw fail("field name is not closed", start) }
                let name = String(chars[(i + 1)..<close])
                if name.isEmpty { throw fail("empty field name", start) }
                tokens.append(.init(kind: .field(name), column: start + 1))
                i = close + 1
            default:
                if c.isNumber || c == "-" || c == "+" || c == "." {
                    var j = i + 1
                    while j < chars.count, chars[j].isNumber || chars[j].isLetter || chars[j] == "." || chars[j] == "_"
                            || ((chars[j] == "-" || chars[j] == "+") && (chars[j - 1] == "e" || chars[j - 1] == "E")) {
                        j += 1
                    }
                    let text = String(chars[i..<j])
                    guard let value = SegmentNumber.parse(text) else { throw fail("'\(text)' is not a number", start) }
                    tokens.append(.init(kind: .number(value, text: text), column: start + 1))
                    i = j
                } else if c.isLetter || c == "_" {
                    var j = i + 1
                    while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "-" || chars[j] == "." {
                        j += 1
                    }
                    let word = String(chars[i..<j])
                    let lower = word.lowercased()
                    tokens.append(.init(kind: keywords.contains(lower) ? .keyword(lower) : .field(word), column: start + 1))
                    i = j
                } else {
                    throw fail("unexpected character '\(c)'", start)
                }
            }
        }
        return tokens
    }
}

/// What counts as a number, in a segment literal and in an attribute value: an optional
/// sign, digits with at most one decimal point, an optional exponent. Nothing else
/// (no "inf", no hex), so "0x10" and "1e" stay text.
enum SegmentNumber {
    static func parse(_ text: some StringProtocol) -> Double? {
        var sawDigit = false, sawDot = false, sawExponent = false, exponentDigit = true
        var previous: Character = " "
        for (offset, c) in text.enumerated() {
            switch c {
            case "0"..."9":
                if sawExponent { exponentDigit = true } else { sawDigit = true }
            case "+", "-":
                guard offset == 0 || previous == "e" || previous == "E" else { return nil }
            case ".":
                guard !sawDot, !sawExponent else { return nil }
                sawDot = true
            case "e", "E":
                guard sawDigit, !sawExponent else { return nil }
                sawExponent = true; exponentDigit = false
            default:
                return nil
            }
            previous = c
        }
        guard sawDigit, exponentDigit else { return nil }
        return Double(String(text))
    }
}
