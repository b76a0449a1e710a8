import CResolv
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One MX record: lower preference is tried first.
public struct MXRecord: Hashable, Sendable, CustomStringConvertible {
    public var preference: Int
    /// The exchange's host name, lower-cased, without the trailing dot.
    public var exchange: String

    public init(preference: Int, exchange: String) {
        self.preference = preference
        self.exchange = exchange
    }

    public var description: String { "\(preference) \(exchange)" }
}

/// What a domain's MX lookup says about where its mail goes.
public enum MXLookup: Hashable, Sendable {
    /// MX hosts, sorted by preference, and the smallest TTL among them.
    case exchanges([MXRecord], ttl: Int)
    /// `MX 0 .` (RFC 7505): the domain accepts no mail at all.
    case nullMX(ttl: Int)
    /// The domain exists but has no MX: its own address records are the implicit MX
    /// (RFC 5321 §5.1).
    case implicit
}

/// Why a lookup gave no answer. A temporary failure defers the recipient; the others
/// bounce it.
public enum DNSLookupError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name does not exist (NXDOMAIN).
    case noSuchDomain(String)
    /// The name exists but has no records of the asked type.
    case noRecords(String, type: String)
    /// SERVFAIL, a timeout, or a server that could not be reached: try again later.
    case temporary(String, reason: String)

    public var isTemporary: Bool {
        if case .temporary = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .noSuchDomain(let name): "DNS: \(name) does not exist (NXDOMAIN)"
        case .noRecords(let name, let type): "DNS: \(name) has no \(type) records"
        case .temporary(let name, let reason): "DNS: lookup of \(name) failed for now: \(reason)"
        }
    }
}

/// MX, A, AAAA, TXT and PTR lookups through the system resolver library (glibc's libresolv), so
/// Salvo parses no DNS packets of its own. Queries block a thread each, so they run off
/// the caller's executor; answers are cached by `DNSCache`, not here.
public struct DNSResolver: Sendable {
    /// An IPv4 name server to ask instead of /etc/resolv.conf's (the `dns.server` key).
    public var server: (host: String, port: Int)?
    /// Seconds per try, and tries per server.
    public var timeout: Int
    public var attempts: Int

    public init(server: (host: String, port: Int)? = nil, timeout: Int = 5, attempts: Int = 2) {
        self.server = server
        self.timeout = timeout
        self.attempts = attempts
    }

    public func mx(_ domain: String) async throws(DNSLookupError) -> MXLookup {
        let answer: [DNSAnswer]
        do {
            answer = try await query(domain, type: ns_t_mx)
        } catch .noRecords {
            return .implicit
        }
        let records = answer.compactMap { record -> (MXRecord, Int)? in
            guard case .mx(let mx) = record.data else { return nil }
            return (mx, record.ttl)
        }
        if records.isEmpty { return .implicit }
        let ttl = records.map(\.1).min() ?? 0
        if records.count == 1, records[0].0.exchange.isEmpty {
            return .nullMX(ttl: ttl)
        }
        let sorted = records.map(\.0).filter { !$0.exchange.isEmpty }.sorted {
            ($0.preference, $0.exchange) < ($1.preference, $1.exchange)
        }
        return .exchanges(sorted, ttl: ttl)
    }

    /// The IPv4 and IPv6 addresses of `host` (IPv4 first), with the smallest TTL.
    public func addresses(_ host: String) async throws(DNSLookupError) -> (addresses: [String], ttl: Int) {
        var found: [String] = []
        var ttl = Int.max
        var firstError: DNSLookupError?
        for type in [ns_t_a, ns_t_aaaa] {
            do {
                for record in try await query(host, type: type) {
                    if case .address(let address) = record.data {
                        found.append(address)
                        ttl = min(ttl, record.ttl)
                    }
                }
            } catch {
                if case .noSuchDomain = error { throw error }
                if firstError == nil || error.isTemporary { firstError = error }
            }
        }
        if found.isEmpty { throw firstError ?? .noRecords(host, type: "A/AAAA") }
        return (found, ttl == Int.max ? 0 : ttl)
    }

    /// The TXT records at `name`, each its character-strings joined as RFC 7208 §3.3 and
    /// RFC 6376 §3.6.2.2 read them (a long DKIM key is split into 255-octet strings).
    public func txt(_ name: String) async throws(DNSLookupError) -> [String] {
        try await query(name, type: ns_t_txt).compactMap { record in
            guard case .text(let text) = record.data else { return nil }
            return text
        }
    }

    /// The names a PTR lookup of `name` gives (lower-cased, without the trailing dot).
    public func ptr(_ name: String) async throws(DNSLookupError) -> [String] {
        try await query(name, type: ns_t_ptr).compactMap { record in
            guard case .name(let host) = record.data else { return nil }
            return host
        }
    }

    /// The IPv4 addresses of `name` alone: what a DNS blocklist answers, and SPF's `a`
    /// and `mx` for an IPv4 client.
    public func ipv4(_ name: String) async throws(DNSLookupError) -> [String] {
        try await addressRecords(name, type: ns_t_a)
    }

    /// The IPv6 addresses of `name` alone.
    public func ipv6(_ name: String) async throws(DNSLookupError) -> [String] {
        try await addressRecords(name, type: ns_t_aaaa)
    }

    private func addressRecords(_ name: String, type: ns_type) async throws(DNSLookupError) -> [String] {
        try await query(name, type: type).compactMap { record in
            guard case .address(let address) = record.data else { return nil }
            return address
        }
    }

    // MARK: - The resolver library

    struct DNSAnswer {
        enum Data { case mx(MXRecord), address(String), text(String), name(String), other }
        var data: Data
        var ttl: Int
    }

    private func query(_ name: String, type: ns_type) async throws(DNSLookupError) -> [DNSAnswer] {
        let server = self.server
        let timeout = self.timeout
        let attempts = self.attempts
        let result: Result<[DNSAnswer], DNSLookupError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.blockingQuery(name, type: type, server: server, timeout: timeout, attempts: attempts))
            }
        }
        return try result.get()
    }

    private static func typeName(_ type: ns_type) -> String {
        switch type {
        case ns_t_mx: "MX"
        case ns_t_a: "A"
        case ns_t_aaaa: "AAAA"
        case ns_t_txt: "TXT"
        case ns_t_ptr: "PTR"
        default: "type \(type.rawValue)"
        }
    }

    private static func blockingQuery(_ name: String, type: ns_type, server: (host: String, port: Int)?,
                                      timeout: Int, attempts: Int) -> Result<[DNSAnswer], DNSLookupError> {
        let state = UnsafeMutablePointer<__res_state>.allocate(capacity: 1)
        memset(state, 0, MemoryLayout<__res_state>.size)
        defer {
            salvo_res_nclose(state)
            state.deallocate()
        }
        guard salvo_res_ninit(state) == 0 else {
            return .failure(.temporary(name, reason: "the resolver could not be initialised"))
        }
        if let server {
            salvo_res_set_server(state, inet_addr(server.host), UInt16(server.port))
        }
        salvo_res_set_timeout(state, Int32(timeout), Int32(attempts))

        var buffer = [UInt8](repeating: 0, count: 65_536)
        let length = buffer.withUnsafeMutableBufferPointer { bytes in
            res_nquery(state, name, Int32(ns_c_in.rawValue), Int32(type.rawValue), bytes.baseAddress, Int32(bytes.count))
        }
        if length < 0 {
            switch salvo_res_h_errno(state) {
            case HOST_NOT_FOUND: return .failure(.noSuchDomain(name))
            case NO_DATA: return .failure(.noRecords(name, type: typeName(type)))
            case TRY_AGAIN: return .failure(.temporary(name, reason: "server failure or timeout (SERVFAIL)"))
            default: return .failure(.temporary(name, reason: "the server refused or could not answer"))
            }
        }
        return buffer.withUnsafeBufferPointer { bytes in
            parse(bytes.baseAddress!, length: Int(length), name: name)
        }
    }

    private static func parse(_ message: UnsafePointer<UInt8>, length: Int, name: String) -> Result<[DNSAnswer], DNSLookupError> {
        var handle = ns_msg()
        guard ns_initparse(message, Int32(length), &handle) == 0 else {
            return .failure(.temporary(name, reason: "malformed answer"))
        }
        var answers: [DNSAnswer] = []
        let count = salvo_ns_msg_count(&handle, ns_s_an)
        for index in 0..<count {
            var record = ns_rr()
            guard ns_parserr(&handle, ns_s_an, index, &record) == 0 else { continue }
            let ttl = Int(salvo_ns_rr_ttl(&record))
            let rdata = salvo_ns_rr_rdata(&record)!
            let rdlength = Int(salvo_ns_rr_rdlen(&record))
            switch ns_type(rawValue: UInt32(salvo_ns_rr_type(&record))) {
            case ns_t_mx where rdlength >= 3:
                let preference = Int(rdata[0]) << 8 | Int(rdata[1])
                var exchange = [CChar](repeating: 0, count: Int(NS_MAXDNAME))
                let used = dn_expand(salvo_ns_msg_base(&handle), salvo_ns_msg_end(&handle), rdata + 2, &exchange, Int32(exchange.count))
                guard used >= 0 else { continue }
                let host = String(cString: exchange).lowercased()
                // dn_expand writes the root name "." as "" : that is the null MX.
                answers.append(DNSAnswer(data: .mx(MXRecord(preference: preference, exchange: host == "." ? "" : host)), ttl: ttl))
            case ns_t_a where rdlength == 4, ns_t_aaaa where rdlength == 16:
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                let family = rdlength == 4 ? AF_INET : AF_INET6
                guard inet_ntop(family, rdata, &text, socklen_t(text.count)) != nil else { continue }
                answers.append(DNSAnswer(data: .address(String(cString: text)), ttl: ttl))
            case ns_t_txt:
                // One or more <length><octets> character-strings, read as one text.
                var octets: [UInt8] = []
                var offset = 0
                while offset < rdlength {
                    let count = Int(rdata[offset])
                    let end = min(offset + 1 + count, rdlength)
                    octets.append(contentsOf: UnsafeBufferPointer(start: rdata + offset + 1, count: end - offset - 1))
                    offset = end
                }
                answers.append(DNSAnswer(data: .text(String(decoding: octets, as: UTF8.self)), ttl: ttl))
            case ns_t_ptr:
                var target = [CChar](repeating: 0, count: Int(NS_MAXDNAME))
                guard dn_expand(salvo_ns_msg_base(&handle), salvo_ns_msg_end(&handle), rdata, &target, Int32(target.count)) >= 0 else { continue }
                answers.append(DNSAnswer(data: .name(target.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.lowercased()), ttl: ttl))
            default:
                answers.append(DNSAnswer(data: .other, ttl: ttl))
            }
        }
        return .success(answers)
    }
}
