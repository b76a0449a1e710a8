import Foundation

extension SalvoConfiguration {
    /// The shortest unsubscribe secret accepted: an HMAC-SHA256 key of fewer than 32
    /// bytes is weaker than the hash, and a short word can be guessed from one token.
    public static let minimumSecretBytes = 32

    /// The HMAC key of unsubscribe tokens: the variable `unsubscribe.secret_env` names,
    /// else the file `unsubscribe.secret_file` (its content without the final line break);
    /// nil when neither is there.
    ///
    /// - Throws: when the secret is shorter than `minimumSecretBytes` (naming the variable
    ///   or file it came from), or the file cannot be read.
    public func unsubscribeSecret(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [UInt8]? {
        if let value = environment[unsubscribe.secretEnv], !value.isEmpty {
            return try Self.checkedSecret(Array(value.utf8), from: "$\(unsubscribe.secretEnv)")
        }
        guard let path = unsubscribe.secretFile else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: file ?? "salvo.yml", line: nil, key: "unsubscribe.secret_file",
                                     message: "cannot read \(path) (and $\(unsubscribe.secretEnv) is not set)")
        }
        var bytes = Array(data)
        while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
        return try Self.checkedSecret(bytes, from: path)
    }

    private static func checkedSecret(_ bytes: [UInt8], from source: String) throws -> [UInt8] {
        guard bytes.count >= minimumSecretBytes else {
            throw UnsubscribeSecretError(source: source, length: bytes.count)
        }
        return bytes
    }

    /// 48 random bytes as 64 characters of base64url: what `salvo init` writes.
    public static func newSecret(using generator: inout some RandomNumberGenerator) -> String {
        let bytes = (0..<48).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}

/// An unsubscribe secret too short to sign tokens with.
public struct UnsubscribeSecretError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let length: Int

    public var description: String {
        "the unsubscribe secret in \(source) is \(length) bytes; it must be at least \(SalvoConfiguration.minimumSecretBytes) (make one with: openssl rand -base64 48)"
    }
}
