import Glibc

/// A mutex with a condition variable, guarding a value.
///
/// `Synchronization.Mutex` cannot wait on a condition, and the log writer is a dedicated thread that sleeps until
/// there is work; this is the pthread pair behind one value. The pthread objects must not move, so they live in
/// allocated memory, not in the class's storage.
package final class ConditionLock<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var state: State

    package init(_ state: State) {
        self.state = state
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0)
        // Timed waits count on the monotonic clock, so a wall-clock step cannot stretch or cut them.
        var attributes = pthread_condattr_t()
        precondition(pthread_condattr_init(&attributes) == 0)
        precondition(pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0)
        precondition(pthread_cond_init(condition, &attributes) == 0)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Sleeps until `ready` holds, then runs `body` under the lock. For the one thread that waits.
    package func withLock<Result>(waitingUntil ready: (State) -> Bool, _ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(state) {
            pthread_cond_wait(condition, mutex)
        }
        return try body(&state)
    }

    /// Sleeps until `ready` holds or `nanoseconds` have passed, then runs `body` under the lock. For the one
    /// thread that waits.
    package func withLock<Result>(
        waitingUntil ready: (State) -> Bool, atMostNanoseconds nanoseconds: Int, _ body: (inout State) throws -> Result
    ) rethrows -> Result {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let total = Int(deadline.tv_nsec) + nanoseconds
        deadline.tv_sec += total / 1_000_000_000
        deadline.tv_nsec = total % 1_000_000_000
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(state) {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return try body(&state)
    }

    /// Wakes the waiting thread. Call with the lock held, after changing what `ready` looks at.
    package func signal() {
        pthread_cond_signal(condition)
    }
}

/// Starts a detached OS thread for work that blocks (fdatasync), so it never occupies Swift's cooperative pool.
package enum DedicatedThread {
    package static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box: Sendable {
            let body: @Sendable () -> Void
            init(body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body: body))
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        precondition(status == 0, "pthread_create failed with \(status)")
        pthread_detach(thread)
    }
}
