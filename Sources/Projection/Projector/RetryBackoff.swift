/// Exponential backoff with jitter: the n-th consecutive failure waits a random time in
/// `[d/2, d]` where `d = min(cap, base · 2ⁿ)`.
///
/// The random half keeps many nodes that lost the same database from reconnecting in step (no storm);
/// the other half keeps the wait growing, so a long outage costs few attempts.
public struct RetryBackoff: Sendable, Hashable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .milliseconds(200), cap: Duration = .seconds(15)) {
        self.base = base
        self.cap = cap
    }

    /// The wait after `failures` consecutive failures (1 for the first).
    public func delay(afterFailures failures: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        precondition(failures >= 1)
        var full = base
        for _ in 1..<min(failures, 40) {
            full = full * 2
            if full >= cap { break }
        }
        full = min(full, cap)
        return full / 2 + (full / 2) * random
    }
}
