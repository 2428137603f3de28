import Synchronization

/// The operator's failure drill: for a while, the projector and the read path behave as if PostgreSQL were
/// unreachable (`POST /admin/faults`). Nothing is broken for real; the node shows what guests would see.
public final class FaultSwitch: Sendable {
    private let until = Mutex<ContinuousClock.Instant?>(nil)

    public init() {}

    /// Makes the database "unreachable" for `duration` from now (zero ends the drill).
    public func makeDatabaseUnreachable(for duration: Duration) {
        until.withLock { $0 = duration > .zero ? .now + duration : nil }
    }

    public var databaseUnreachable: Bool {
        until.withLock { until in
            guard let end = until else { return false }
            if ContinuousClock.now < end { return true }
            until = nil
            return false
        }
    }

    /// The error the drill produces, in the words an operator reads in logs and on /readyz.
    static let drillMessage = "The database is unreachable because of a failure drill (POST /admin/faults); it ends by itself."
}
