/// Builds one header field value: sanitises untrusted text, encodes what is not plain
/// ASCII as RFC 2047 encoded-words, and folds at whitespace so lines stay within 78
/// characters where the content allows and never exceed 998.
///
/// Folding only ever inserts CRLF before whitespace that is already there, and every
/// piece of text that reaches a header first goes through `sanitised`, so no value can
/// end the field early: a CR or LF from a recipient becomes a space.
struct HeaderFolder {
    static let preferredLineLength = 78
    /// The longest an encoded-word may be (RFC 2047 §2).
    static let maxEncodedWordLength = 75

    private let nameLength: Int
    private(set) var value: String = ""
    private var lineLength: Int
    private var lineHasAtom = false

    init(name: String) {
        self.nameLength = name.utf8.count + 1
        self.lineLength = nameLength
    }

    /// Appends `atom` (which must contain no whitespace and no line break), preceded by
    /// `whitespace`; folds before the whitespace when the line would grow too long.
    mutating func append(_ atom: some StringProtocol) {
        append(atom, after: " ")
    }

    mutating func append(_ atom: some StringProtocol, after whitespace: some StringProtocol) {
        let atomLength = atom.utf8.count
        let spaceLength = whitespace.utf8.count
        if spaceLength > 0, lineHasAtom, lineLength + spaceLength + atomLength > Self.preferredLineLength {
            value += "\r\n"
            lineLength = 0
        }
        value += whitespace
        value += atom
        lineLength += spaceLength + atomLength
        lineHasAtom = true
    }

    /// Characters that must never reach a header as they are: C0 and C1 controls
    /// (CR and LF among them), DEL, and the Unicode line and paragraph separators.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x85: true
        default: false
        }
    }

    /// `text` with every unsafe character replaced by a space.
    static func sanitised(_ text: String) -> String {
        // Printable ASCII, the usual case, is safe as it is: checked by byte.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        if text.unicodeScalars.allSatisfy({ !isUnsafe($0) }) { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(isUnsafe(scalar) ? " " : scalar)
        }
        return String(scalars)
    }

    /// Appends unstructured text (a Subject): kept readable when it is printable ASCII
    /// that folds well, otherwise written as a run of encoded-words.
    mutating func appendUnstructured(_ text: String) {
        let text = Self.sanitised(text)
        if Self.isPlainFoldable(text) {
            appendWords(of: text)
        } else {
            appendEncodedWords(text)
        }
    }

    /// Appends a display name as a phrase: a quoted string (folded at its spaces) when
    /// it is printable ASCII, otherwise encoded-words.
    mutating func appendPhrase(_ text: String) {
        let text = Self.sanitised(text)
        if Self.isPlainFoldable(text) {
            // Plain-foldable text is ASCII: quoted byte by byte, not by grapheme.
            var quoted: [UInt8] = [UInt8(ascii: "\"")]
            quoted.reserveCapacity(text.utf8.count + 4)
            for byte in text.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { quoted.append(UInt8(ascii: "\\")) }
                quoted.append(byte)
            }
            quoted.append(UInt8(ascii: "\""))
            let quotedText = String(decoding: quoted, as: UTF8.self)
            // A quoted string may be folded at its spaces (RFC 5322 §3.2.4).
            appendWords(of: quotedText)
        } else {
            appendEncodedWords(text)
        }
    }

    /// Appends words separated by their original whitespace, so unfolding gives back
    /// the text exactly. `text` is plain-foldable (printable ASCII), so it is split at
    /// its space bytes rather than walked grapheme by grapheme.
    private mutating func appendWords(of text: String) {
        let space = UInt8(ascii: " ")
        let bytes = text.utf8
        var whitespace = Substring(" ")
        var position = bytes.startIndex
        if position < bytes.endIndex, bytes[position] == space {
            let end = bytes[position...].firstIndex(where: { $0 != space }) ?? bytes.endIndex
            whitespace = text[position..<end]
            position = end
        }
        while position < bytes.endIndex {
            let wordEnd = bytes[position...].firstIndex(of: space) ?? bytes.endIndex
            append(text[position..<wordEnd], after: whitespace)
            let spaceEnd = bytes[wordEnd...].firstIndex(where: { $0 != space }) ?? bytes.endIndex
            whitespace = text[wordEnd..<spaceEnd]
            position = spaceEnd
        }
        if !whitespace.isEmpty, whitespace.startIndex != text.startIndex {
            // Trailing spaces: keep them inside the value (a reader trims them anyway).
            value += whitespace
            lineLength += whitespace.utf8.count
        }
    }

    /// Text can stay unencoded when it is printable ASCII, holds nothing a reader
    /// would take for an encoded-word, and has no word too long to fold.
    static func isPlainFoldable(_ text: String) -> Bool {
        var wordLength = 0
        var previous: UInt8 = 0
        for byte in text.utf8 {
            guard byte >= 0x20, byte < 0x7F else { return false }
            if previous == UInt8(ascii: "="), byte == UInt8(ascii: "?") { return false }
            if byte == UInt8(ascii: " ") {
                wordLength = 0
            } else {
                wordLength += 1
                if wordLength > preferredLineLength - 12 { return false }
            }
            previous = byte
        }
        return true
    }

    /// Writes `text` as `=?UTF-8?B?…?=` words, each holding whole characters and
    /// sized to the room left on its line; adjacent encoded-words are separated by
    /// folding whitespace, which readers drop when decoding.
    mutating func appendEncodedWords(_ text: String) {
        let overhead = "=?UTF-8?B?".utf8.count + "?=".utf8.count
        var chunk: [UInt8] = []
        var first = true
        func capacity(lineUsed: Int) -> Int {
            let room = min(Self.preferredLineLength - lineUsed - 1, Self.maxEncodedWordLength) - overhead
            return max(room / 4, 1) * 3
        }
        let roomOnThisLine = Self.preferredLineLength - lineLength - 1 - overhead
        var limit = capacity(lineUsed: roomOnThisLine >= 16 || !lineHasAtom ? lineLength : 0)
        func flush() {
            guard !chunk.isEmpty else { return }
            var word = "=?UTF-8?B?"
            word += Base64.encode(chunk)
            word += "?="
            append(word)
            chunk.removeAll(keepingCapacity: true)
            first = false
            limit = capacity(lineUsed: 0)
        }
        for character in text {
            let bytes = Array(String(character).utf8)
            if bytes.count > limit {
                // A character too big for one word (a long combining sequence):
                // split it at scalar boundaries, the best that can be done.
                flush()
                for scalar in character.unicodeScalars {
                    let scalarBytes = Array(String(scalar).utf8)
                    if chunk.count + scalarBytes.count > limit { flush() }
                    chunk += scalarBytes
                }
                continue
            }
            if chunk.count + bytes.count > limit { flush() }
            chunk += bytes
        }
        flush()
        if first { append("") }
    }
}
