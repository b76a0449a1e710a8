import Foundation

/// A task executor with one thread of its own, for the code under test whose deadlines a
/// test checks (a web server's idle cut-off and answers, an SMTP client's hang-up).
///
/// The whole test suite shares Swift's global concurrency pool, which has one thread per
/// core: two cores here. A test that blocks a pool thread (waiting for a child process,
/// a synchronous read) or simply has much work queued there delays every other test's
/// tasks by as long. Measured in full runs of the suite, a job waited up to 16 s for a
/// pool thread, which is how a server with a 1 s idle timeout failed to close a stalled
/// connection within 30 s. Tasks started with this executor as their preference, and
/// their child tasks and the default actors they call, run here instead, so what they
/// do on time does not depend on the rest of the suite. (`salvo serve` and `salvo send`
/// each run alone in their process; the tests put several servers in one.)
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    /// Starts the thread, which lives as long as the process: an executor a task may
    /// still resume on must never go away.
    public init(name: String) {
        let thread = Thread { [self] in runJobs() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: UnownedJob) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// `operation` run as a task that prefers a new dedicated thread, awaited.
    public static func run<T: Sendable>(name: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task(executorPreference: DedicatedThreadExecutor(name: name), operation: operation).value
    }
}
