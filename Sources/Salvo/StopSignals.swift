import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM, caught once for the whole process by the commands that work until
/// they are told to stop (`send`, `run`, `sink`). The first signal asks the work under way
/// to stop gracefully (the engine finishes what is on the wire, records it and hands the
/// rest back); a second one ends the process at once with `ExitStatus.interrupted` (what
/// was on the wire is recovered by the next start, as after a crash).
///
/// Why a `sigaction` handler and not a `DispatchSource` per piece of work: on Linux a
/// signal source blocks its signal only in the thread that made it, and the signal must be
/// ignored everywhere else; a source made later on another thread (the next campaign of
/// `salvo run`) never saw the signals that landed elsewhere, and both were ignored for good.
/// The handler here runs on whichever thread the signal lands on and only writes a byte to
/// a pipe (async-signal-safe); one thread of ours reads the pipe and does the rest.
enum StopSignals {
    /// Whether a stop signal has arrived since the process started.
    static var received: Bool { state.withLockedValue { $0.count > 0 } }

    /// Makes `stop` the work's way to stop until `unregister(_:)`; `message` is printed
    /// on stderr when the first signal arrives. When a signal has arrived already, `stop`
    /// is called at once (a signal between two campaigns of `salvo run` stops the next).
    static func register(saying message: String, _ stop: @escaping @Sendable () async -> Void) -> Int {
        install()
        let (token, stopNow) = state.withLockedValue { state -> (Int, Bool) in
            state.nextToken += 1
            state.current = Registration(token: state.nextToken, message: message, stop: stop)
            return (state.nextToken, state.count > 0)
        }
        if stopNow { Task { await stop() } }
        return token
    }

    static func unregister(_ token: Int) {
        state.withLockedValue { state in
            if state.current?.token == token { state.current = nil }
        }
    }

    private struct Registration {
        var token: Int
        var message: String
        var stop: @Sendable () async -> Void
    }

    private struct State {
        var installed = false
        var count = 0
        var nextToken = 0
        var current: Registration?
    }

    private static let state = NIOLockedValueBox(State())

    /// Catches the signals from now on (a signal before any work is registered is
    /// remembered in `received`). Idempotent; `register` calls it too.
    static func install() {
        let first = state.withLockedValue { state -> Bool in
            defer { state.installed = true }
            return !state.installed
        }
        guard first else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            printError("warning: cannot catch SIGINT and SIGTERM (pipe: \(String(cString: strerror(errno)))): they end the process at once")
            return
        }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        stopSignalPipe = fds[1]
        let reading = fds[0]
        let thread = Thread { readSignals(from: reading) }
        thread.name = "salvo-stop-signals"
        thread.start()
        // A supervisor may start us with these blocked (a mask is inherited): unblocked
        // here, the signals land at least on this thread.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for signal in [SIGINT, SIGTERM] {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = onStopSignal
            #else
            action.__sigaction_u.__sa_handler = onStopSignal
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
    }

    /// The pipe's reader: the first signal stops the work registered, the second ends the
    /// process.
    private static func readSignals(from fd: Int32) {
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return }
            let (count, registration) = state.withLockedValue { state in
                state.count += 1
                return (state.count, state.current)
            }
            if count >= 2 {
                printError("stopping at once: what was on the wire is recovered by the next run")
                _exit(ExitStatus.interrupted)
            }
            guard let registration else { continue }
            printError(registration.message)
            Task { await registration.stop() }
        }
    }
}

/// The write end of `StopSignals`' pipe, read by the signal handler (set before the
/// handler is installed, never changed after).
nonisolated(unsafe) private var stopSignalPipe: Int32 = -1

/// Runs on any thread, at any moment: only async-signal-safe calls.
private func onStopSignal(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(stopSignalPipe, &byte, 1)
}

/// The stop of one piece of work while it runs: `StopSignals.register` until `cancel()`.
final class InterruptHandler {
    private let token: Int

    init(saying message: String = "stopping: finishing the transactions in flight (Ctrl-C again to quit at once)",
         _ stop: @escaping @Sendable () async -> Void) {
        token = StopSignals.register(saying: message, stop)
    }

    func cancel() {
        StopSignals.unregister(token)
    }
}
