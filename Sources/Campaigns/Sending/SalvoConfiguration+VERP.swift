import Foundation
import MailMessage

extension SalvoConfiguration {
    /// The environment variable that holds the VERP secret in force.
    public var verpSecretEnv: String { verp?.secretEnv ?? unsubscribe.secretEnv }

    /// The VERP return path for a campaign sent from `from`, or nil when `verp` is off.
    ///
    /// - Throws: when `verp` is on and its secret's variable is unset: without the
    ///   secret, tokens could not be checked, and a bounce import would have to trust any
    ///   address it is shown.
    public func verpAddress(from: Mailbox, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> VERPAddress? {
        guard let verp else { return nil }
        guard let secret = try verpSecret(environment: environment) else {
            throw ConfigurationError(file: file ?? "salvo.yml", line: nil, key: "verp",
                                     message: "verp is on but $\(verpSecretEnv) is not set: the VERP tokens are signed with it (set it, or name another variable in verp.secret_env)")
        }
        let domain = verp.bounceDomain ?? from.domain.lowercased()
        return VERPAddress(localPart: verp.localPart, domain: domain, secret: secret)
    }

    /// What reads VERP tokens back for `salvo bounces import`: the secret whether or not
    /// `verp` is on now, since bounces of messages sent while it was on keep arriving for
    /// days. Nil when the variable is unset (matching then uses Message-IDs and addresses).
    public func verpReader(environment: [String: String] = ProcessInfo.processInfo.environment) -> VERPAddress? {
        guard let secret = try? verpSecret(environment: environment) else { return nil }
        return VERPAddress(secret: secret)
    }

    /// The value of `verpSecretEnv`, else (when VERP names no variable of its own) the
    /// file `unsubscribe.secret_file` that the unsubscribe secret may come from.
    private func verpSecret(environment: [String: String]) throws -> [UInt8]? {
        if let value = environment[verpSecretEnv], !value.isEmpty { return Array(value.utf8) }
        guard verp?.secretEnv == nil else { return nil }
        return try unsubscribeSecret(environment: environment)
    }
}
