public import Orders
import Synchronization

/// What the node answered the first time an `Idempotency-Key` was used.
public enum IdempotencyKeyLookup: Sendable, Hashable {
    /// The key is new (or forgotten: older than its lifetime, or pushed out by newer keys).
    case unknown
    /// The key was used for this reservation; `outcome` is the first answer: for a reservation that request
    /// created, its status as it was then (pending, nothing projected yet); for one already taken, as it is now.
    case replay(AcceptOutcome)
    /// The key was used for a different reservation.
    case conflict
}

extension LocalProjection {
    /// What `key` was used for, judged against the reservation with `digest`.
    ///
    /// Keys come from the log (``IdempotencyKeyEvent``), so they survive restarts and power cuts like the
    /// reservations they name, and are forgotten after ``Configuration/idempotencyKeyLifetime`` or when more than
    /// ``Configuration/idempotencyKeyCapacity`` are newer.
    public func idempotencyKey(_ key: String, digest: ReservationDigest) -> IdempotencyKeyLookup {
        let now = configuration.clockMillis()
        return state.withLock { state in
            Self.expireKeys(&state, now: now, configuration: configuration)
            guard let record = state.keys[key] else { return .unknown }
            guard record.digest == digest else { return .conflict }
            // The reservation is kept at least as long as the key (the recent window covers its lifetime); a
            // key whose reservation is gone anyway is treated as forgotten.
            guard let entry = state.entries[digest] else { return .unknown }
            return .replay(record.created ? .accepted(Self.firstAnswer(entry)) : .alreadyAccepted(Self.status(entry, in: state)))
        }
    }

    /// How many idempotency keys are kept now.
    public var idempotencyKeyCount: Int {
        let now = configuration.clockMillis()
        return state.withLock { state in
            Self.expireKeys(&state, now: now, configuration: configuration)
            return state.keys.count
        }
    }

    /// The status of a reservation as the request that stored it was answered: pending, nothing projected yet.
    static func firstAnswer(_ entry: Entry) -> ReservationStatus {
        var first = entry
        first.state = .pending
        first.projectedAtMillis = nil
        first.failedAttempts = 0
        first.lastFailure = nil
        return status(first)
    }

    /// The first answer for a reservation this node has just taken.
    func firstAnswer(for digest: ReservationDigest) -> ReservationStatus? {
        state.withLock { $0.entries[digest].map(Self.firstAnswer) }
    }

    static func record(_ event: IdempotencyKeyEvent, atMillis: Int64, to state: inout State, configuration: Configuration) {
        // The first use of a key is its answer; a later event for the same key (a race of two requests) is not.
        guard state.keys[event.key] == nil else { return }
        state.keys[event.key] = KeyRecord(digest: event.digest, created: event.created, atMillis: atMillis)
        state.keyOrder.append(event.key)
        expireKeys(&state, now: atMillis, configuration: configuration)
    }

    /// Forgets expired keys, then the oldest until at most the capacity remain.
    static func expireKeys(_ state: inout State, now: Int64, configuration: Configuration) {
        let lifetime = milliseconds(configuration.idempotencyKeyLifetime)
        while state.keyOrderStart < state.keyOrder.count {
            let key = state.keyOrder[state.keyOrderStart]
            guard let record = state.keys[key] else {
                state.keyOrderStart += 1
                continue
            }
            guard record.atMillis + lifetime <= now || state.keys.count > configuration.idempotencyKeyCapacity else { break }
            state.keys[key] = nil
            state.keyOrderStart += 1
        }
        // Drop the forgotten prefix now and then, so the order list stays proportional to what is kept.
        if state.keyOrderStart > 1024 && state.keyOrderStart * 2 > state.keyOrder.count {
            state.keyOrder.removeFirst(state.keyOrderStart)
            state.keyOrderStart = 0
        }
    }
}
