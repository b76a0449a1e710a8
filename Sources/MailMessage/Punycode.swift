import Foundation

/// Punycode (RFC 3492) and the IDNA ToASCII step for domain names (RFC 5891), so a
/// Unicode domain can travel as `xn--` labels to a server without SMTPUTF8.
public enum Punycode {
    private static let base = 36
    private static let tMin = 1
    private static let tMax = 26
    private static let skew = 38
    private static let damp = 700
    private static let initialBias = 72
    private static let initialN = 0x80

    /// Encodes a sequence of code points as Punycode (without the `xn--` prefix).
    /// Returns nil only on arithmetic overflow, which needs absurdly long input.
    public static func encode(_ input: String) -> String? {
        let scalars = input.unicodeScalars.map { Int($0.value) }
        var output: [UInt8] = scalars.filter { $0 < 0x80 }.map { UInt8($0) }
        let basicCount = output.count
        var handled = basicCount
        if basicCount > 0 { output.append(UInt8(ascii: "-")) }

        var n = initialN
        var delta = 0
        var bias = initialBias
        while handled < scalars.count {
            guard let m = scalars.filter({ $0 >= n }).min() else { break }
            let (product, overflow) = (m - n).multipliedReportingOverflow(by: handled + 1)
            if overflow { return nil }
            delta += product
            n = m
            for c in scalars {
                if c < n {
                    delta += 1
                    if delta == Int.max { return nil }
                }
                if c == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta: delta, numPoints: handled + 1, firstTime: handled == basicCount)
                    delta = 0
                    handled += 1
                }
            }
            delta += 1
            n += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes Punycode (without the `xn--` prefix); nil when it is malformed.
    public static func decode(_ input: String) -> String? {
        let bytes = Array(input.utf8)
        var output: [Int] = []
        var position = 0
        if let lastDash = bytes.lastIndex(of: UInt8(ascii: "-")) {
            for byte in bytes[..<lastDash] {
                guard byte < 0x80 else { return nil }
                output.append(Int(byte))
            }
            position = lastDash + 1
        }
        var n = initialN
        var i = 0
        var bias = initialBias
        while position < bytes.count {
            let oldI = i
            var w = 1
            var k = base
            while true {
                guard position < bytes.count, let d = digitValue(bytes[position]) else { return nil }
                position += 1
                let (dw, o1) = d.multipliedReportingOverflow(by: w)
                let (sum, o2) = i.addingReportingOverflow(dw)
                if o1 || o2 { return nil }
                i = sum
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if d < t { break }
                let (nw, o3) = w.multipliedReportingOverflow(by: base - t)
                if o3 { return nil }
                w = nw
                k += base
            }
            bias = adapt(delta: i - oldI, numPoints: output.count + 1, firstTime: oldI == 0)
            n += i / (output.count + 1)
            i %= output.count + 1
            guard n <= 0x10FFFF else { return nil }
            output.insert(n, at: i)
            i += 1
        }
        var scalars = String.UnicodeScalarView()
        for value in output {
            guard let scalar = Unicode.Scalar(UInt32(value)) else { return nil }
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// IDNA ToASCII for a whole domain: each label is NFC-normalised and lower-cased,
    /// and any label that is not ASCII becomes `xn--` + Punycode. The ideographic full
    /// stops that IDNA treats as dots separate labels too.
    public static func toASCII(domain: String) throws(PunycodeError) -> String {
        if domain.utf8.allSatisfy({ $0 < 0x80 }) {
            // Most domains are already lower-case ASCII: no new string for them.
            return domain.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? domain.lowercased() : domain
        }
        let normalised = domain.precomposedStringWithCanonicalMapping.lowercased()
        let labels = normalised.split(omittingEmptySubsequences: false) { $0 == "." || $0 == "\u{3002}" || $0 == "\u{FF0E}" || $0 == "\u{FF61}" }
        var result: [String] = []
        for label in labels {
            let label = String(label)
            if label.utf8.allSatisfy({ $0 < 0x80 }) {
                result.append(label)
                continue
            }
            guard let encoded = encode(label) else { throw .invalidLabel(label) }
            let ascii = "xn--" + encoded
            guard ascii.utf8.count <= 63 else { throw .labelTooLong(label) }
            result.append(ascii)
        }
        return result.joined(separator: ".")
    }

    /// The inverse of `toASCII`: `xn--` labels are decoded, others kept.
    public static func toUnicode(domain: String) -> String {
        domain.split(separator: ".", omittingEmptySubsequences: false).map { label -> String in
            let lower = label.lowercased()
            if lower.hasPrefix("xn--"), let decoded = decode(String(lower.dropFirst(4))) { return decoded }
            return String(label)
        }.joined(separator: ".")
    }

    private static func adapt(delta: Int, numPoints: Int, firstTime: Bool) -> Int {
        var delta = firstTime ? delta / damp : delta / 2
        delta += delta / numPoints
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + ((base - tMin + 1) * delta) / (delta + skew)
    }

    private static func digit(_ d: Int) -> UInt8 {
        d < 26 ? UInt8(ascii: "a") + UInt8(d) : UInt8(ascii: "0") + UInt8(d - 26)
    }

    private static func digitValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(byte - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): Int(byte - UInt8(ascii: "A"))
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0")) + 26
        default: nil
        }
    }
}

/// Why a domain could not be converted to its ASCII form.
public enum PunycodeError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidLabel(String)
    case labelTooLong(String)

    public var description: String {
        switch self {
        case .invalidLabel(let label): "domain label \(label.debugDescription) cannot be encoded as punycode"
        case .labelTooLong(let label): "domain label \(label.debugDescription) is longer than 63 octets once encoded"
        }
    }
}
