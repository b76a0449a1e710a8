#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// Why a TCP connect failed, in a line: NIO's connect errors list every address tried at
/// length. Shared by every client that connects with NIO (the SMTP client, the POP3 bounce
/// reader).
public enum ConnectFailure {
    public static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            let reasons = error.connectionErrors.map { failure -> String in
                if let io = failure.error as? IOError { return "\(failure.target.ipAddress ?? "?"): \(String(cString: strerror(io.errnoCode)))" }
                return "\(failure.target.ipAddress ?? "?"): \(failure.error)"
            }
            if !reasons.isEmpty { return reasons.joined(separator: "; ") }
            if let dns = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve host: \(dns)" }
        }
        return "\(error)"
    }

    /// Whether a connect failed because the local address it was to be made from cannot
    /// be used (not this host's, or of another family than the server's): a setup to
    /// mend, not a server that is down.
    public static func isUnusableSourceAddress(_ error: any Error) -> Bool {
        ioErrors(in: error).contains { io in
            io.errnoCode == EADDRNOTAVAIL || io.errnoCode == EAFNOSUPPORT || (io.errnoCode == EINVAL && "\(io)".contains("bind"))
        }
    }

    private static func ioErrors(in error: any Error) -> [IOError] {
        if let io = error as? IOError { return [io] }
        if let error = error as? NIOConnectionError { return error.connectionErrors.compactMap { $0.error as? IOError } }
        return []
    }
}
