import Foundation
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store lives: `postgres://USER@HOST[:PORT]/DB[?sslmode=MODE]`
/// (`postgresql://` too), as libpq spells it, without the password.
///
/// A password never travels in the URL (it would land in `salvo.yml`, shell history and
/// process lists): it comes from the environment variable `database_password_env` names,
/// `SALVO_DB_PASSWORD` by default (`password(environment:passwordVariable:)`).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// libpq's `sslmode`, with libpq's meaning.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain text only.
        case disable
        /// libpq tries plain text first, then TLS; PostgresNIO has no such order, so this
        /// is `prefer`: TLS when the server offers it, unverified.
        case allow
        /// TLS when the server offers it, unverified (libpq's default).
        case prefer
        /// TLS or no connection, the certificate not verified (as libpq does without a
        /// root certificate file).
        case require
        /// TLS, the certificate verified against the system's trusted roots.
        case verifyCA = "verify-ca"
        /// `verify-ca`, and the certificate names the host.
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode

    /// The environment variable that holds the password unless the configuration names
    /// another (`database_password_env`).
    public static let defaultPasswordVariable = "SALVO_DB_PASSWORD"

    public init(user: String, host: String, port: Int = 5432, database: String, sslMode: SSLMode = .prefer) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.sslMode = sslMode
    }

    /// Parses `url`; every malformed URL gets an error naming what is wrong.
    public init(_ url: String) throws {
        func fail(_ problem: String) -> PostgresURLError { PostgresURLError(url: url, problem: problem) }
        var rest = Substring(url)
        guard let scheme = ["postgres://", "postgresql://"].first(where: { rest.hasPrefix($0) }) else {
            throw fail("it must start with postgres:// or postgresql://")
        }
        rest = rest.dropFirst(scheme.count)
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw fail("no database: add /DB after the host") }
        let authority = rest[..<slash]
        let database = Self.decode(rest[rest.index(after: slash)...])
        guard let at = authority.lastIndex(of: "@") else { throw fail("no user: write postgres://USER@HOST/DB") }
        let userInfo = authority[..<at]
        if userInfo.contains(":") {
            throw fail("a password is never written in the URL: put it in the environment variable "
                + "\(Self.defaultPasswordVariable), or name another with database_password_env")
        }
        let user = Self.decode(userInfo)
        guard !user.isEmpty else { throw fail("no user: write postgres://USER@HOST/DB") }
        var hostPort = authority[authority.index(after: at)...]
        var port = 5432
        // An IPv6 literal is bracketed: [::1]:5432.
        let portSeparator: String.Index?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("an IPv6 host needs its closing ]") }
            portSeparator = hostPort[close...].firstIndex(of: ":")
        } else {
            portSeparator = hostPort.firstIndex(of: ":")
        }
        if let colon = portSeparator {
            let text = hostPort[hostPort.index(after: colon)...]
            guard let number = Int(text), (1...65_535).contains(number) else {
                throw fail("bad port '\(text)': a number from 1 to 65535")
            }
            port = number
            hostPort = hostPort[..<colon]
        }
        let host = hostPort.hasPrefix("[") ? String(hostPort.dropFirst().dropLast()) : String(hostPort)
        guard !host.isEmpty else { throw fail("no host: write postgres://USER@HOST/DB") }
        guard !database.isEmpty else { throw fail("no database: add /DB after the host") }
        guard !database.contains("/") else { throw fail("the database name '\(database)' holds a '/'") }
        var sslMode = SSLMode.prefer
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw fail("unknown sslmode '\(value)' (\(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                sslMode = mode
            case "password":
                throw fail("a password is never written in the URL: put it in the environment variable "
                    + "\(Self.defaultPasswordVariable), or name another with database_password_env")
            default:
                throw fail("unknown query key '\(key)' (only sslmode is understood)")
            }
        }
        self.init(user: user, host: host, port: port, database: database, sslMode: sslMode)
    }

    /// The URL as written back (no password: there is none to leak).
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "postgres://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// "HOST:PORT/DB", how errors name the server.
    public var place: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(host):\(port)/\(database)"
    }

    /// The password from `environment[passwordVariable]` (nil or empty: the variable
    /// `database_password_env` names, else `SALVO_DB_PASSWORD`); nil when it is not set,
    /// for a server that trusts the connection or asks for none.
    public static func password(environment: [String: String] = ProcessInfo.processInfo.environment,
                                passwordVariable: String? = nil) -> String? {
        let variable = passwordVariable.flatMap { $0.isEmpty ? nil : $0 } ?? defaultPasswordVariable
        return environment[variable]
    }

    /// What PostgresNIO's client does for this `sslmode`.
    public var tls: PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: return .disable
        case .allow, .prefer: return .prefer(Self.tlsConfiguration(verification: .none))
        case .require: return .require(Self.tlsConfiguration(verification: .none))
        case .verifyCA: return .require(Self.tlsConfiguration(verification: .noHostnameVerification))
        case .verifyFull: return .require(Self.tlsConfiguration(verification: .fullVerification))
        }
    }

    /// The certificate check this `sslmode` asks for, nil without TLS.
    public var certificateVerification: CertificateVerification? {
        switch sslMode {
        case .disable: nil
        case .allow, .prefer, .require: CertificateVerification.none
        case .verifyCA: .noHostnameVerification
        case .verifyFull: .fullVerification
        }
    }

    /// The client's configuration for this URL and `password`.
    public func clientConfiguration(password: String?) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    /// The configuration of one connection outside the pool (migrations, the first check
    /// that the server is there).
    func connectionConfiguration(password: String?) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .allow, .prefer: tls = .prefer(try NIOSSLContext(configuration: Self.tlsConfiguration(verification: .none)))
        default: tls = .require(try NIOSSLContext(configuration: Self.tlsConfiguration(verification: certificateVerification!)))
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                database: database, tls: tls)
    }

    private static func tlsConfiguration(verification: CertificateVerification) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verification
        return configuration
    }

    private static func decode(_ text: Substring) -> String {
        String(text).removingPercentEncoding ?? String(text)
    }
}

/// A `database` URL that cannot be used, and why.
public struct PostgresURLError: Error, CustomStringConvertible, Equatable {
    /// The URL as given (it holds no password: one in it is refused).
    public var url: String
    public var problem: String
    public var description: String { "database URL \(Self.redacted(url)): \(problem)" }

    /// The URL with any password written in it blanked, so an error never repeats it.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authorityEnd = url[scheme.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? url.endIndex
        let authority = url[scheme.upperBound..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else {
            return url.replacingOccurrences(of: #"password=[^&]*"#, with: "password=***", options: .regularExpression)
        }
        return String(url[..<authority.index(after: colon)]) + "***" + String(url[at...])
    }
}
