import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether this host can open connections from a source address: a TCP socket of the
/// address's family is bound to it (port 0) and closed again, which is what the kernel
/// refuses for an address the host does not have (`EADDRNOTAVAIL`).
///
/// A send checks every configured address before it claims anyone: an address is
/// otherwise found bad only by the first connection made from it, and a send that needs
/// fewer connections than there are addresses would never make that one.
public enum SourceAddressCheck {
    /// Nil when a socket binds to `address`; else what went wrong, in words.
    public static func problem(with address: String) -> String? {
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: address, port: 0)
        } catch {
            return "\(address) is not an IP address"
        }
        #if canImport(Glibc) || canImport(Musl)
        let stream = Int32(SOCK_STREAM.rawValue)
        #else
        let stream = SOCK_STREAM
        #endif
        let descriptor = socket(socketAddress.protocol.rawValue, stream, 0)
        guard descriptor >= 0 else { return "cannot open a socket for \(address): \(String(cString: strerror(errno)))" }
        defer { close(descriptor) }
        let bound = socketAddress.withSockAddr { bind(descriptor, $0, socklen_t($1)) }
        guard bound == 0 else { return "\(address) is not an address of this host (\(String(cString: strerror(errno))))" }
        return nil
    }
}
