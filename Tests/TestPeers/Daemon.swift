import Foundation

extension TestPeers {
    /// Starts a daemon with posix_spawn, never Foundation's `Process`: daemons such as
    /// dnsmasq and dovecot close the descriptors they inherit, which stalls `Process`'s
    /// monitor. It gets `input` (a descriptor of the caller's; /dev/null when nil) for its
    /// input, `output` for its output and errors, no other descriptor of the caller's, a
    /// process group of its own and default signal handling (a test runner's child may
    /// inherit a mask that blocks SIGTERM).
    public static func spawnDaemon(_ executable: String, _ arguments: [String], input: Int32? = nil, output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process's: a daemon that held the write end of another
        // child's output pipe would keep the test that reads that pipe from ever seeing
        // its end (a PostgreSQL started while a `salvo` child ran did, and the run hung).
        try closeFrom(3, in: &actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw PeerError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up by
    /// name once: Swift's Glibc module does not declare it.
    private static let addCloseFrom: CloseFrom? = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }

    private static func closeFrom(_ lowest: Int32, in actions: inout posix_spawn_file_actions_t) throws {
        guard let addCloseFrom else {
            throw PeerError("this C library has no posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later has)")
        }
        let rc = addCloseFrom(&actions, lowest)
        guard rc == 0 else { throw PeerError("posix_spawn_file_actions_addclosefrom_np: \(String(cString: strerror(rc)))") }
    }
}
