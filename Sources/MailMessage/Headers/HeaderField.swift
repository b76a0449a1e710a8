/// One header field exactly as it will be written: `name:value` followed by CRLF.
///
/// `value` is the text after the colon, starting with its space and including any
/// folding (CRLF followed by a space). Only `Message` builds fields, through
/// `HeaderFolder`, so every value is already sanitised, encoded and folded.
public struct HeaderField: Hashable, Sendable {
    public let name: String
    public let value: String

    init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// The field as sent, ending with CRLF.
    public var bytes: [UInt8] {
        var output: [UInt8] = []
        append(to: &output)
        return output
    }

    func append(to output: inout [UInt8]) {
        output.append(contentsOf: name.utf8)
        output.append(UInt8(ascii: ":"))
        output.append(contentsOf: value.utf8)
        output.append(13)
        output.append(10)
    }

    /// The value unfolded and trimmed, as a reader would see it before decoding
    /// encoded-words.
    public var unfoldedValue: String {
        String(value.replacingCRLF()).trimmingASCIIWhitespace()
    }
}

extension String {
    fileprivate func replacingCRLF() -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        for byte in utf8 where byte != 13 && byte != 10 { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
