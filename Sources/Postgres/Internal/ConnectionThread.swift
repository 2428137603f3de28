import Glibc

/// A serial executor backed by one dedicated POSIX thread.
///
/// Every `PostgresConnection` runs on its own `ConnectionThread`, so that libpq calls, including the
/// `poll(2)` that waits for the server, never occupy a thread of Swift's cooperative pool (two threads
/// on the machines we run on; one blocked call there would stall the whole process).
///
/// The thread runs until ``shutdown()`` is called and every job enqueued before it has run; it then
/// releases its reference to the executor and exits.
final class ConnectionThread: SerialExecutor, @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `mutex`, and `thread` is written once,
    // before `init` returns.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var jobs: [UnownedJob] = []
    private var isShuttingDown = false
    private var thread = pthread_t()
    /// The kernel's id of the thread (`gettid`), set when it starts; nil until then.
    private var kernelID: pid_t?

    /// Starts the thread.
    init() {
        self.mutex = .allocate(capacity: 1)
        self.condition = .allocate(capacity: 1)
        precondition(pthread_mutex_init(self.mutex, nil) == 0)
        precondition(pthread_cond_init(self.condition, nil) == 0)

        // The thread keeps the executor alive until it exits (released at the end of `run`).
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { context in
                let executor = Unmanaged<ConnectionThread>.fromOpaque(context!).takeRetainedValue()
                executor.run()
                return nil
            }, context)
        precondition(status == 0, "pthread_create failed with \(status)")
        self.thread = thread
        pthread_detach(thread)
    }

    deinit {
        pthread_cond_destroy(self.condition)
        pthread_mutex_destroy(self.mutex)
        self.condition.deallocate()
        self.mutex.deallocate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(self.mutex)
        precondition(!self.isShuttingDown, "a job was enqueued on a connection thread that was shut down")
        self.jobs.append(job)
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// The kernel's id of this thread, once it has started: lets a test see in `/proc` whether the thread is
    /// blocked in `poll(2)`.
    var kernelThreadID: pid_t? {
        pthread_mutex_lock(self.mutex)
        defer { pthread_mutex_unlock(self.mutex) }
        return self.kernelID
    }

    func checkIsolated() {
        precondition(pthread_equal(pthread_self(), self.thread) != 0, "not on the connection's thread")
    }

    /// The calling thread's kernel id, read from `/proc/thread-self` (a link to `PID/task/TID`): Glibc's
    /// `gettid()` is not visible to Swift. Nil where `/proc` is not mounted.
    private static func currentKernelThreadID() -> pid_t? {
        var target = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/thread-self", &target, target.count - 1)
        guard length > 0 else { return nil }
        let text = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "/").last.flatMap { pid_t($0) }
    }

    /// Lets the thread exit once the jobs already enqueued have run.
    func shutdown() {
        pthread_mutex_lock(self.mutex)
        self.isShuttingDown = true
        pthread_cond_signal(self.condition)
        pthread_mutex_unlock(self.mutex)
    }

    private func run() {
        pthread_mutex_lock(self.mutex)
        self.kernelID = ConnectionThread.currentKernelThreadID()
        pthread_mutex_unlock(self.mutex)
        var batch: [UnownedJob] = []
        while true {
            pthread_mutex_lock(self.mutex)
            while self.jobs.isEmpty && !self.isShuttingDown {
                pthread_cond_wait(self.condition, self.mutex)
            }
            if self.jobs.isEmpty {
                // Shutting down and nothing left to run.
                pthread_mutex_unlock(self.mutex)
                return
            }
            swap(&batch, &self.jobs)
            pthread_mutex_unlock(self.mutex)

            for job in batch {
                job.runSynchronously(on: self.asUnownedSerialExecutor())
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
