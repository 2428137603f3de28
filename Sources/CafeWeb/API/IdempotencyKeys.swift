import Orders
import Synchronization

/// The answers given to requests that carried an `Idempotency-Key`, so that a retry gets the same answer.
///
/// Kept in memory, per node, bounded in count and in time: at most `capacity` keys, each for `lifetime`
/// after its first answer; the oldest is forgotten first. A retry after that, or one the load balancer sends
/// to another node, still cannot book twice: the reservation's digest makes the same reservation the same
/// booking. The key only adds "same answer" and "a key is not reused for a different reservation".
///
/// Keys are shared by every client of the node (the API has no accounts), so clients should use random
/// keys such as UUIDs. Only successful answers (201, 200) are remembered: a refused request changed
/// nothing, and retrying it should be judged afresh.
final class IdempotencyKeys: Sendable {
    /// A remembered answer.
    struct Answer: Sendable, Equatable {
        var digest: ReservationDigest
        var statusCode: Int
        var body: [UInt8]
    }

    /// What a lookup found.
    enum Lookup: Sendable, Equatable {
        /// The key is new (or forgotten).
        case unknown
        /// The key was used for this reservation; here is the first answer.
        case replay(Answer)
        /// The key was used for a different reservation.
        case conflict
    }

    private struct Entry {
        var answer: Answer
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Keys in the order they were stored, which is also expiry order (one lifetime for all).
        var order: [String] = []
        var orderStart = 0
    }

    private let capacity: Int
    private let lifetime: Duration
    private let state = Mutex(State())

    init(capacity: Int, lifetime: Duration) {
        precondition(capacity >= 1, "an idempotency key store holds at least one key")
        self.capacity = capacity
        self.lifetime = lifetime
    }

    /// What `key` was used for, judged against the reservation with `digest`.
    func lookup(_ key: String, digest: ReservationDigest, now: ContinuousClock.Instant = .now) -> Lookup {
        state.withLock { state in
            Self.expire(&state, now: now, capacity: capacity)
            guard let entry = state.entries[key] else { return .unknown }
            return entry.answer.digest == digest ? .replay(entry.answer) : .conflict
        }
    }

    /// Remembers `answer` for `key`, unless a concurrent request stored one first; returns what is now
    /// remembered, so that racing retries all give the first answer.
    func remember(_ key: String, answer: Answer, now: ContinuousClock.Instant = .now) -> Lookup {
        state.withLock { state in
            Self.expire(&state, now: now, capacity: capacity)
            if let entry = state.entries[key] {
                return entry.answer.digest == answer.digest ? .replay(entry.answer) : .conflict
            }
            state.entries[key] = Entry(answer: answer, expires: now + lifetime)
            state.order.append(key)
            Self.expire(&state, now: now, capacity: capacity)
            return .replay(answer)
        }
    }

    /// How many keys are remembered now.
    var count: Int {
        state.withLock { $0.entries.count }
    }

    /// Forgets expired keys, then the oldest until at most `capacity` remain.
    private static func expire(_ state: inout State, now: ContinuousClock.Instant, capacity: Int) {
        while state.orderStart < state.order.count {
            let key = state.order[state.orderStart]
            guard let entry = state.entries[key] else {
                state.orderStart += 1
                continue
            }
            guard entry.expires <= now || state.entries.count > capacity else { break }
            state.entries[key] = nil
            state.orderStart += 1
        }
        // Drop the forgotten prefix now and then, so the order list stays proportional to what is kept.
        if state.orderStart > 1024 && state.orderStart * 2 > state.order.count {
            state.order.removeFirst(state.orderStart)
            state.orderStart = 0
        }
    }

    /// Whether `key` is an acceptable `Idempotency-Key`: 1...255 visible ASCII characters.
    static func isValid(_ key: String) -> Bool {
        (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }
}
