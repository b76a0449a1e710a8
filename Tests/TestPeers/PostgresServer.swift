import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL server for the tests of one process: a cluster made by `initdb`
/// in a new temporary folder (trust authentication), listening on 127.0.0.1 and a free
/// port only, its socket in that folder, `fsync=off` (nothing in it outlives the run).
/// Started once, when a test first asks (`shared()`); each store gets a database of its
/// own (`makeDatabase()`), dropped with `dropDatabase(_:)`.
///
/// initdb and postgres refuse to run as root: as root, the folder is given to the
/// `postgres` user and both run as it (`runuser`).
///
/// The server dies with the test process, however that ends: it runs under a shell that
/// reads its input from a pipe only this process holds open. When the process exits (or
/// is killed), the pipe closes, the shell's `read` returns, and it stops the server (fast
/// shutdown) and removes the folder. The same pipe takes `stop` and `start` lines, so a
/// test that needs the database to go away and come back (`launchPrivate()`, `stop()`,
/// `start()`) restarts a server of its own, the same cluster on the same port.
public final class PostgresServer: Sendable {
    public let port: Int
    /// The superuser, trusted on loopback.
    public let user = "postgres"
    let folder: String
    let binaries: String
    /// The write end of the pipe the server's shell reads; never closed while the process runs.
    private let lifeline: Int32

    private init(port: Int, folder: String, binaries: String, lifeline: Int32) {
        self.port = port
        self.folder = folder
        self.binaries = binaries
        self.lifeline = lifeline
    }

    private static let start = Task<PostgresServer, any Error> {
        let server = try await launch()
        startedServer.withLock { $0 = server }
        return server
    }
    private static let startedServer = Locked<PostgresServer?>(nil)

    /// The server once `shared()` has started it, for a synchronous caller (a fixture's
    /// clean-up); nil before.
    public static var started: PostgresServer? { startedServer.withLock { $0 } }

    /// The test process's server, started on the first call.
    public static func shared() async throws -> PostgresServer {
        try await start.value
    }

    /// A server of the caller's own, apart from `shared()`'s, for a test that stops it
    /// (dies with the process as that one does).
    public static func launchPrivate() async throws -> PostgresServer {
        try await launch()
    }

    /// Stops the server as a restart does (fast shutdown: sessions are ended, running
    /// transactions rolled back) and returns once it no longer answers.
    public func stop() async throws {
        try tell("stop")
        guard try await TestPeers.eventually(within: .seconds(60), every: .milliseconds(20), { !self.isAnswering() }) else {
            throw PeerError("postgres on port \(port) did not stop")
        }
    }

    /// Starts the stopped server again and returns once it accepts sessions.
    public func start() async throws {
        try tell("start")
        guard try await TestPeers.eventually(within: .seconds(90), every: .milliseconds(50), { self.isReady() }) else {
            throw PeerError("postgres on port \(port) did not start again: \(Self.read(folder + "/postgres-\(port).log"))")
        }
    }

    private func tell(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        guard write(lifeline, bytes, bytes.count) == bytes.count else { throw PeerError("postgres peer: \(line): errno \(errno)") }
    }

    /// A new empty database; returns its name.
    public func makeDatabase() async throws -> String {
        let name = "salvo_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        let finished = try await ChildProcess.run(binaries + "/psql", psqlArguments("CREATE DATABASE \(name)"), joinErrors: true)
        guard finished.status == 0 else { throw PeerError("psql CREATE DATABASE \(name): \(finished.text)") }
        return name
    }

    /// The `postgres://` URL of `database` on this server, as salvo.yml or `--db` names it.
    public func url(_ database: String) -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// What `sql` returns on `database`: a line per row, its fields joined by `|` (psql's
    /// unaligned output, without headers).
    public func query(_ sql: String, database: String) async throws -> String {
        let arguments = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", user,
                         "-d", database, "-c", sql]
        let finished = try await ChildProcess.run(binaries + "/psql", arguments, joinErrors: false)
        guard finished.status == 0 else { throw PeerError("psql \(sql) on \(database): \(finished.errors)") }
        return finished.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Drops `name`, ending any session still on it.
    public func dropDatabase(_ name: String) {
        try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs one statement as the superuser on the `postgres` database, for a synchronous
    /// caller (a fixture's clean-up).
    public func psql(_ sql: String) throws {
        let (status, output) = try Self.run(binaries + "/psql", psqlArguments(sql))
        guard status == 0 else { throw PeerError("psql \(sql): \(output)") }
    }

    private func psqlArguments(_ sql: String) -> [String] {
        ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", "postgres", "-c", sql]
    }

    /// Runs a program to its end: its exit status and everything it printed (read with
    /// `readAllData`, which outlasts the signals the tests' children bring).
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: try output.fileHandleForReading.readAllData(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// The folder of initdb, postgres, pg_isready and psql: on PATH, or Debian's
    /// /usr/lib/postgresql/VERSION/bin (the newest).
    static func binaryFolder() throws -> String {
        if let initdb = try? TestPeers.executable("initdb") {
            let resolved = URL(fileURLWithPath: initdb).resolvingSymlinksInPath().deletingLastPathComponent().path
            if FileManager.default.isExecutableFile(atPath: resolved + "/postgres") { return resolved }
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw PeerError("test peer PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin); "
            + "scripts/test installs Debian's postgresql")
    }

    private static func launch() async throws -> PostgresServer {
        let binaries = try binaryFolder()
        let folder = try TestPeers.makeTemporaryDirectory("postgres").path
        let asRoot = geteuid() == 0
        // The command line as the server's user (root runs it through runuser).
        func command(_ arguments: [String]) throws -> (String, [String]) {
            asRoot ? (try TestPeers.executable("runuser"), ["-u", "postgres", "--"] + arguments) : (arguments[0], Array(arguments.dropFirst()))
        }
        if asRoot {
            guard chown(folder, uidOf("postgres"), gid_t.max) == 0 else {
                throw PeerError("cannot give \(folder) to the postgres user: errno \(errno)")
            }
        }
        let data = folder + "/data"
        let (initdb, initdbArguments) = try command([binaries + "/initdb", "-D", data, "--auth=trust", "-U", "postgres",
                                                      "-E", "UTF8", "--locale=C", "--no-sync"])
        let initialized = try await ChildProcess.run(initdb, initdbArguments, joinErrors: true)
        guard initialized.status == 0 else { throw PeerError("initdb failed: \(initialized.text)") }

        var lastError: Error = PeerError("postgres did not start")
        for _ in 0..<3 {
            let port = try TestPeers.freePort()
            let postgres = [binaries + "/postgres", "-D", data, "-p", "\(port)", "-k", folder,
                            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                            "-c", "full_page_writes=off", "-c", "max_connections=200"]
            // The shell starts the server, stops it on a `stop` line and starts it again
            // on `start`, until its input closes; then it stops the server and removes
            // the cluster.
            let script = """
                "$@" & server=$!
                while read line; do
                  if [ "$line" = stop ] && [ -n "$server" ]; then kill -INT $server; wait $server; server=""
                  elif [ "$line" = start ] && [ -z "$server" ]; then "$@" & server=$!
                  fi
                done
                if [ -n "$server" ]; then kill -INT $server; wait $server; fi
                rm -rf '\(folder)'
                """
            let (shell, shellArguments) = try command(["/bin/sh", "-c", script, "postgres-peer"] + postgres)
            var pipe: [Int32] = [0, 0]
            // Close-on-exec: only this process holds the write end, no other child
            // inherits it (the shell gets the read end as its input through dup2).
            guard Glibc.pipe(&pipe) == 0 else { throw PeerError("pipe() failed: errno \(errno)") }
            for end in pipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            let log = folder + "/postgres-\(port).log"
            let pid = try TestPeers.spawnDaemon(shell, shellArguments, input: pipe[0], output: log)
            close(pipe[0])
            switch try await TestPeers.daemonStart(port: port, pid: pid) {
            case .accepting?:
                let server = PostgresServer(port: port, folder: folder, binaries: binaries, lifeline: pipe[1])
                // Accepting connections comes before accepting sessions ("starting up").
                if try await TestPeers.eventually(within: .seconds(90), every: .milliseconds(50), { server.isReady() }) {
                    return server
                }
                lastError = PeerError("postgres on port \(port) never became ready: \(Self.read(log))")
            case .exited?:
                lastError = PeerError("postgres exited before it was ready: \(Self.read(log))")
            case nil:
                lastError = PeerError("postgres was not listening on port \(port): \(Self.read(log))")
            }
            close(pipe[1])
            kill(pid, SIGKILL)
        }
        throw lastError
    }

    private func isReady() -> Bool {
        readiness() == 0
    }

    /// pg_isready's status 2: nothing answers on the port (1 is a server refusing sessions
    /// while it starts or stops).
    private func isAnswering() -> Bool {
        readiness() != 2
    }

    private func readiness() -> Int32? {
        (try? Self.run(binaries + "/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)", "-U", user]))?.status
    }

    private static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    private static func uidOf(_ user: String) -> uid_t {
        guard let entry = getpwnam(user) else { return uid_t.max }
        return entry.pointee.pw_uid
    }
}

/// A value behind a lock.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
