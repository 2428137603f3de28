import Synchronization

/// What the projector last reported: for `/readyz`, `/metrics`, `db status`-like views and tests.
public final class ProjectorStatusBoard: Sendable {
    public struct Snapshot: Sendable, Hashable {
        /// Whether the last contact with the database succeeded.
        public var connected = false
        /// The first offset not yet projected, as last committed (nil before the checkpoint was read).
        public var checkpoint: UInt64?
        /// The end of the last range this projector committed: how far it has got (also during a replay
        /// below the checkpoint).
        public var position: UInt64?
        /// The log's end when last looked at.
        public var logEnd: UInt64 = 0
        /// Age in seconds of the oldest event not yet projected (0 when caught up).
        public var lagSeconds: Double = 0
        public var lastError: String?
        public var consecutiveFailures = 0
        public var eventsInserted: UInt64 = 0
        public var eventsDuplicate: UInt64 = 0
        public var eventsDeadLettered: UInt64 = 0
        public var batches: UInt64 = 0

        public var lagEvents: UInt64 { logEnd - min(logEnd, checkpoint ?? 0) }
    }

    private struct State {
        var snapshot = Snapshot()
        /// Resumed with false at every update ("look again") and at cancellation.
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter = 0
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    public init() {}

    public var snapshot: Snapshot {
        state.withLock { $0.snapshot }
    }

    func update(_ change: (inout Snapshot) -> Void) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            change(&state.snapshot)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: false) }
    }

    /// Waits until `condition` holds for the snapshot, or the task is cancelled. For tests and `replay`,
    /// which wait for the projector without polling; `condition` sees every snapshot it is woken for.
    public func wait(until condition: @escaping (Snapshot) -> Bool) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            while !Task.isCancelled {
                let done = await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
                    // Check and register under one lock, so no update slips between them.
                    let holds = state.withLock { state -> Bool in
                        if state.cancelled.contains(id) || condition(state.snapshot) { return true }
                        state.waiters[id] = waiter
                        return false
                    }
                    if holds { waiter.resume(returning: true) }
                }
                if done { break }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                state.cancelled.insert(id)
                return state.waiters.removeValue(forKey: id)
            }
            waiter?.resume(returning: true)
        }
        _ = state.withLock { $0.cancelled.remove(id) }
    }
}
