import Foundation

/// The fields of a POSTed form: `application/x-www-form-urlencoded` (what browsers and
/// most providers send) or `multipart/form-data` (which RFC 8058 allows too). Only
/// small text fields are read; the body has been bounded before it gets here.
public enum FormBody {
    public static func fields(body: [UInt8], contentType: String?) -> [String: String] {
        let type = contentType?.lowercased() ?? ""
        if type.hasPrefix("multipart/form-data"), let boundary = parameter("boundary", in: contentType ?? "") {
            return multipart(body, boundary: boundary)
        }
        // Without a type, or with text/plain, the one-click body is still urlencoded text.
        return urlencoded(String(decoding: body, as: UTF8.self))
    }

    static func urlencoded(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]) else { continue }
            let value = parts.count > 1 ? decode(parts[1]) ?? "" : ""
            let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
            if fields[name] == nil { fields[name] = trimmed }
        }
        return fields
    }

    private static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// `name=value` or `name="value"` among a header's `;` parameters.
    static func parameter(_ name: String, in header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let parts = piece.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == name else { continue }
            var value = parts[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    static func multipart(_ body: [UInt8], boundary: String) -> [String: String] {
        let text = String(decoding: body, as: UTF8.self)
        var fields: [String: String] = [:]
        for part in text.components(separatedBy: "--" + boundary).dropFirst() {
            if part.hasPrefix("--") { break }
            guard let split = part.range(of: "\r\n\r\n") ?? part.range(of: "\n\n") else { continue }
            let headers = part[..<split.lowerBound]
            // The line break before the next boundary belongs to the boundary; the fields
            // read here are single words, so trimming takes it off.
            let value = String(part[split.upperBound...])
            for line in headers.split(whereSeparator: \.isNewline) where line.lowercased().hasPrefix("content-disposition:") {
                if let name = parameter("name", in: String(line)), fields[name] == nil {
                    fields[name] = value.trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
        }
        return fields
    }
}
