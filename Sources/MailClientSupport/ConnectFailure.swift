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
}
