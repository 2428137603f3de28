import Synchronization

/// How far the log can be read, as the writer last published it.
package struct LogFrontier: Sendable {
    /// Every record below this offset is durable (written, in `none` mode) and readable.
    package var endOffset: UInt64
    /// The base offsets of all segments, ascending; the last one is being written.
    package var segmentBases: [UInt64]
    /// Bytes of the active (last) segment that hold complete, published batches.
    package var activeReadableSize: Int64
    /// The sparse index of the active segment.
    package var activeIndex: [SparseIndexEntry]
}

/// Where the writer publishes its frontier and where tailing readers wait for it to move.
package final class FrontierBoard: Sendable {
    private struct State {
        var frontier: LogFrontier
        var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]
        var cancelledWaiters: Set<Int> = []
        var nextWaiterID = 0
        /// Set when the writer is gone: nothing more will be published.
        var finished: LogError?
    }

    private let state: Mutex<State>

    package init(_ frontier: LogFrontier) {
        state = Mutex(State(frontier: frontier))
    }

    package var frontier: LogFrontier {
        state.withLock { $0.frontier }
    }

    /// Why nothing more will be published (``LogError/closed`` or the writer's fatal error), or nil while it runs.
    package var finished: LogError? {
        state.withLock { $0.finished }
    }

    package func publish(_ update: (inout LogFrontier) -> Void) {
        let woken = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            update(&state.frontier)
            defer { state.waiters.removeAll(keepingCapacity: true) }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    package func finish(_ reason: LogError) {
        let woken = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            if state.finished == nil { state.finished = reason }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once the frontier is past `offset`, the writer is gone, or the task is cancelled.
    package func wait(beyond offset: UInt64) async {
        let id = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.finished != nil || state.frontier.endOffset > offset
                        || state.cancelledWaiters.remove(id) != nil
                    {
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> UnsafeContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelledWaiters.insert(id)
                return nil
            }
            waiter?.resume()
        }
        _ = state.withLock { $0.cancelledWaiters.remove(id) }
    }
}
