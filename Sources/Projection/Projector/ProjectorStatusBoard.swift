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
        /// Cancellations written into `cafe.cancellations`, and those already there.
        public var cancellationsInserted: UInt64 = 0
        public var cancellationsDuplicate: UInt64 = 0
        public var batches: UInt64 = 0
        /// Rewinds of the database this projector found and healed (see ``Projector``).
        public var rewindsHealed: UInt64 = 0

        public var lagEvents: UInt64 { logEnd - min(logEnd, checkpoint ?? 0) }
    }

    /// A wait that ended without its condition holding: the projector did not get there in time.
    public struct WaitTimedOut: Error, CustomStringConvertible {
        /// How long the caller waited.
        public let waited: Duration
        /// What the projector reported last.
        public let last: Snapshot

        public var description: String {
            let checkpoint = last.checkpoint.map(String.init) ?? "unknown"
            return "The projector did not reach the awaited state within \(waited): it last reported checkpoint "
                + "\(checkpoint), log end \(last.logEnd), connected \(last.connected), last error "
                + "\(last.lastError ?? "none")."
        }
    }

    /// Why a waiter stopped waiting without its condition holding.
    private enum Release {
        case cancelled
        case timedOut
    }

    private struct State {
        var snapshot = Snapshot()
        /// Resumed with false at every update ("look again"), and with true when released.
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter = 0
        /// The waiters still waiting, and those told to stop (cancelled, or past their deadline).
        var active: Set<Int> = []
        var released: [Int: Release] = [:]
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

    /// Waits until `condition` holds for the snapshot, without polling: `condition` sees every snapshot it is
    /// woken for. For tests, `replay` and the benchmarks.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait at most; a projector that never gets there is a failure, not a hang.
    ///   - condition: called with each new snapshot, in the waiting task.
    /// - Throws: ``WaitTimedOut`` when `timeout` passes first; `CancellationError` when the task is cancelled.
    public func wait(timeout: Duration, until condition: (Snapshot) -> Bool) async throws {
        let id = self.register()
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            self.release(id, .timedOut)
        }
        defer { timer.cancel() }
        switch await self.waitRegistered(id, until: condition) {
        case nil: return
        case .cancelled: throw CancellationError()
        case .timedOut: throw WaitTimedOut(waited: timeout, last: self.snapshot)
        }
    }

    /// Calls `observe` with every snapshot until the task is cancelled (`replay` shows database errors this
    /// way while its projector retries).
    public func watch(_ observe: (Snapshot) -> Void) async {
        let id = self.register()
        _ = await self.waitRegistered(id) { snapshot in
            observe(snapshot)
            return false
        }
    }

    private func register() -> Int {
        state.withLock { state -> Int in
            state.nextWaiter += 1
            state.active.insert(state.nextWaiter)
            return state.nextWaiter
        }
    }

    /// Tells waiter `id` to stop waiting, if it still waits.
    private func release(_ id: Int, _ reason: Release) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.active.contains(id), state.released[id] == nil else { return nil }
            state.released[id] = reason
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume(returning: true)
    }

    /// Waits as waiter `id`; returns nil when `condition` held, else why it was released.
    private func waitRegistered(_ id: Int, until condition: (Snapshot) -> Bool) async -> Release? {
        await withTaskCancellationHandler {
            while true {
                let done = await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
                    // Check and register under one lock, so no update or release slips between them.
                    let holds = state.withLock { state -> Bool in
                        if state.released[id] != nil || condition(state.snapshot) { return true }
                        state.waiters[id] = waiter
                        return false
                    }
                    if holds { waiter.resume(returning: true) }
                }
                if done { break }
            }
            return state.withLock { state -> Release? in
                state.active.remove(id)
                return state.released.removeValue(forKey: id)
            }
        } onCancel: {
            self.release(id, .cancelled)
        }
    }
}
