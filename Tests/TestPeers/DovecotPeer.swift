import Foundation

/// Dovecot serving one mailbox over POP3S (implicit TLS, `ssl = required`) on 127.0.0.1
/// at a free port, for the bounce-mailbox reader's tests.
///
/// Everything it writes stays in its own temporary folder: the configuration, base_dir
/// (sockets and master.pid), state_dir, the log, the passwd-file and the Maildir, so
/// parallel runs never meet and no system-wide configuration is read or touched. A test
/// drops messages with `deliver`, reads what is left with `messagesInMaildir`.
///
/// Like dnsmasq it is started with posix_spawn rather than Foundation's `Process`: its
/// master closes inherited descriptors, which Foundation's monitor takes for an exit.
/// It runs in a process group of its own, so `stop()` ends the master and every child
/// (login, auth and pop3 processes) it forked, and nothing else.
public final class DovecotPeer: @unchecked Sendable {
    public let port: Int
    /// The one user, with an "@" so the URL has to percent-encode it.
    public let user = "bounces@shop.example"
    public let password: String
    public let certificates: TestCertificates
    public let directory: URL
    /// The user's Maildir: `new/` for arriving mail, `cur/` once Dovecot has seen it.
    public var maildir: URL { directory.appendingPathComponent("Maildir") }
    /// The CA that signed the server's certificate (for `caFile`).
    public var caFile: String { certificates.caFile }
    /// `pop3s://bounces%40shop.example@127.0.0.1:PORT`
    public var url: String { "pop3s://bounces%40shop.example@127.0.0.1:\(port)" }

    private let pid: pid_t
    private let mailOwner: (uid: uid_t, gid: gid_t)
    private let ownsCertificates: Bool
    private var stopped = false
    /// A failed start attempt: stopping it leaves the folder to the next attempt.
    var abandoned = false
    private var deliveries = 0

    private init(port: Int, password: String, certificates: TestCertificates, ownsCertificates: Bool,
                 directory: URL, pid: pid_t, mailOwner: (uid_t, gid_t)) {
        self.port = port
        self.password = password
        self.certificates = certificates
        self.ownsCertificates = ownsCertificates
        self.directory = directory
        self.pid = pid
        self.mailOwner = mailOwner
    }

    /// Starts `dovecot -F -c CONF`. `certificates` defaults to a new CA and a server
    /// certificate for localhost and 127.0.0.1 (removed by `stop()`).
    public static func start(certificates given: TestCertificates? = nil) async throws -> DovecotPeer {
        let executable = try TestPeers.executable("dovecot")
        let certificates = try given ?? TestCertificates.make()
        let directory = try TestPeers.makeTemporaryDirectory("dovecot")
        let accounts = try Accounts.current()
        let password = "pw-\(UUID().uuidString.prefix(12))"
        let maildir = directory.appendingPathComponent("Maildir")
        for folder in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(at: maildir.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try chownTree(maildir, to: accounts.mail)
        // The auth process reads the passwd-file as the internal user.
        let passwd = directory.appendingPathComponent("passwd")
        try "bounces@shop.example:{PLAIN}\(password):\(accounts.mail.uid):\(accounts.mail.gid)::\(directory.path)::\n"
            .write(to: passwd, atomically: true, encoding: .utf8)
        chmod(passwd.path, 0o644)

        var lastError: Error = PeerError("dovecot did not start")
        for _ in 0..<3 {
            let port = try TestPeers.freePort()
            let configuration = directory.appendingPathComponent("dovecot.conf")
            try configurationText(directory: directory, port: port, certificates: certificates, accounts: accounts)
                .write(to: configuration, atomically: true, encoding: .utf8)
            let output = directory.appendingPathComponent("dovecot.out").path
            let pid = try TestPeers.spawnDaemon(executable, ["-F", "-c", configuration.path], output: output)
            let peer = DovecotPeer(port: port, password: password, certificates: certificates, ownsCertificates: given == nil,
                                   directory: directory, pid: pid, mailOwner: accounts.mail)
            switch try await TestPeers.daemonStart(port: port, pid: pid) {
            case .accepting?:
                return peer
            case .exited?:
                peer.stopped = true
                lastError = PeerError("dovecot exited before it was ready: \(peer.log)")
            case nil:
                lastError = PeerError("dovecot was not ready on port \(port): \(peer.log)")
            }
            peer.stopProcess()
            // The next attempt reuses the folder and certificates: this one must not
            // remove them when it is released.
            peer.abandoned = true
        }
        try? FileManager.default.removeItem(at: directory)
        if given == nil { certificates.remove() }
        throw lastError
    }

    /// Which system users Dovecot runs as. As root: its packaged unprivileged users for
    /// login and internal processes, and `nobody` for mail, since Dovecot refuses mail
    /// access as root. As another user: that user for everything.
    private struct Accounts {
        var loginUser: String
        var internalUser: String
        var internalGroup: String
        var mail: (uid: uid_t, gid: gid_t)

        static func current() throws -> Accounts {
            guard geteuid() == 0 else {
                let name = NSUserName()
                let group = getgrgid(getegid()).map { String(cString: $0.pointee.gr_name) } ?? name
                return Accounts(loginUser: name, internalUser: name, internalGroup: group, mail: (geteuid(), getegid()))
            }
            for name in ["dovenull", "dovecot"] where getpwnam(name) == nil {
                throw PeerError("dovecot's system user '\(name)' is missing: is dovecot-core installed (scripts/test installs it)?")
            }
            guard let nobody = getpwnam("nobody") else { throw PeerError("no 'nobody' user to own the test Maildir") }
            return Accounts(loginUser: "dovenull", internalUser: "dovecot", internalGroup: "dovecot",
                            mail: (nobody.pointee.pw_uid, nobody.pointee.pw_gid))
        }
    }

    private static func configurationText(directory: URL, port: Int, certificates: TestCertificates, accounts: Accounts) -> String {
        let dir = directory.path
        return """
        # Generated for one test run; nothing outside \(dir) is read or written.
        protocols = pop3
        listen = 127.0.0.1
        base_dir = \(dir)/run
        state_dir = \(dir)/state
        instance_name = salvo-test-\(directory.lastPathComponent)
        log_path = \(dir)/dovecot.log
        info_log_path = \(dir)/dovecot.log
        debug_log_path = \(dir)/dovecot.log
        default_login_user = \(accounts.loginUser)
        default_internal_user = \(accounts.internalUser)
        default_internal_group = \(accounts.internalGroup)
        first_valid_uid = 1
        first_valid_gid = 1
        mail_location = maildir:\(dir)/Maildir
        ssl = required
        ssl_cert = <\(certificates.certificateFile)
        ssl_key = <\(certificates.keyFile)
        auth_mechanisms = plain
        passdb {
          driver = passwd-file
          args = scheme=PLAIN \(dir)/passwd
        }
        userdb {
          driver = passwd-file
          args = \(dir)/passwd
        }
        service pop3-login {
          # No clear-text listener: POP3 over TLS only.
          inet_listener pop3 {
            port = 0
          }
          inet_listener pop3s {
            address = 127.0.0.1
            port = \(port)
            ssl = yes
          }
          chroot =
        }
        service anvil {
          chroot =
        }
        service stats {
          unix_listener stats-reader {
            mode = 0666
          }
          unix_listener stats-writer {
            mode = 0666
          }
        }

        """
    }

    /// Puts `message` into the Maildir's new/ (written in tmp/ first, then renamed, as
    /// Maildir delivery does) and returns its path. Deliveries get increasing names, so
    /// Dovecot numbers them in the order they were delivered.
    @discardableResult
    public func deliver(_ message: [UInt8]) throws -> URL {
        deliveries += 1
        let name = String(format: "%010d.M%06dP%d.salvo-test", Int(Date().timeIntervalSince1970), deliveries, getpid())
        let temporary = maildir.appendingPathComponent("tmp").appendingPathComponent(name)
        let final = maildir.appendingPathComponent("new").appendingPathComponent(name)
        try Data(message).write(to: temporary)
        chown(temporary.path, mailOwner.uid, mailOwner.gid)
        try FileManager.default.moveItem(at: temporary, to: final)
        return final
    }

    /// The messages in the Maildir (new/ and cur/), file contents, in file name order.
    public func messagesInMaildir() throws -> [[UInt8]] {
        var files: [URL] = []
        for folder in ["new", "cur"] {
            files += try FileManager.default.contentsOfDirectory(
                at: maildir.appendingPathComponent(folder), includingPropertiesForKeys: nil)
        }
        return try files.sorted { $0.lastPathComponent < $1.lastPathComponent }.map { [UInt8](try Data(contentsOf: $0)) }
    }

    /// What Dovecot logged so far (its log and its standard output).
    public var log: String {
        ["dovecot.log", "dovecot.out"].compactMap {
            try? String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)
        }.joined(separator: "\n")
    }

    private static func chownTree(_ url: URL, to owner: (uid: uid_t, gid: gid_t)) throws {
        guard geteuid() == 0 else { return }
        chown(url.path, owner.uid, owner.gid)
        for case let path as String in FileManager.default.enumerator(atPath: url.path) ?? FileManager.DirectoryEnumerator() {
            chown(url.appendingPathComponent(path).path, owner.uid, owner.gid)
        }
    }


    /// Ends Dovecot's process group (SIGTERM, SIGKILL after five seconds) and reaps the
    /// master, so the port and the files are free afterwards. The master is reaped last:
    /// until then its pid, which is the group's id, cannot be reused by anyone else.
    private func stopProcess() {
        guard !stopped else { return }
        stopped = true
        kill(-pid, SIGTERM)
        let start = Date()
        var info = siginfo_t()
        while true {
            info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 { break }
            #if canImport(Glibc)
            if info._sifields._sigchld.si_pid == pid { break }
            #else
            if info.si_pid == pid { break }
            #endif
            if Date().timeIntervalSince(start) > 5 { break }
            usleep(20_000)
        }
        // Children may outlive the master by a moment; none may keep the port.
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// Stops Dovecot and removes its folder (and the certificates it made).
    public func stop() {
        stopProcess()
        if abandoned { return }
        try? FileManager.default.removeItem(at: directory)
        if ownsCertificates { certificates.remove() }
    }

    deinit { stop() }
}
