import Foundation
import MailMessage

extension DoctorPlan {
    private static func loadKey(_ path: String) -> Result<DKIMKey, DKIMKeyError> {
        do {
            return .success(try DKIMKey(contentsOfFile: path))
        } catch {
            return .failure(error)
        }
    }

    /// The plan for this machine: the stored campaigns when the database exists (it is
    /// never created here), their HTML templates' links, the configured DKIM key, and
    /// this machine's interface addresses.
    public static func load(configuration: SalvoConfiguration, domain: String?, databasePath: String) throws -> DoctorPlan {
        var campaigns: [CampaignLinks] = []
        if FileManager.default.fileExists(atPath: databasePath) {
            let store = try SalvoStore(path: databasePath)
            for summary in try store.campaigns() {
                let definition = try store.campaign(named: summary.name).definition
                var hosts = definition.unsubscribe.map(linkHosts(in:)) ?? []
                if let html = definition.html, let text = try? String(contentsOfFile: html, encoding: .utf8) {
                    hosts += linkHosts(in: text)
                }
                campaigns.append(CampaignLinks(from: definition.from, linkHosts: unique(hosts)))
            }
        }
        let key = configuration.dkim.map { loadKey($0.key) }
        return try DoctorPlan(configuration: configuration, domain: domain, campaigns: campaigns, dkimKey: key,
                              machineAddresses: MachineAddresses.current())
    }
}

/// This machine's interface addresses (getifaddrs), the sending addresses when the
/// configuration names none.
enum MachineAddresses {
    static func current() -> [IPAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let socket = entry.pointee.ifa_addr else { continue }
            let family = Int32(socket.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok: Bool
            if family == AF_INET {
                ok = socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    var address = v4.pointee.sin_addr
                    return inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil
                }
            } else {
                ok = socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    var address = v6.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil
                }
            }
            if ok, let address = IPAddress(text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) { addresses.append(address) }
        }
        return addresses
    }
}
