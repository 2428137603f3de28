import Metrics
import Orders
import HTTPTypes
import Projection
import Synchronization

/// The web layer's metrics, recorded through swift-metrics into the factory it was given (so that tests and
/// the server each have their own registry).
///
/// Names follow Prometheus conventions: `_total` on counters, `_seconds` on timers.
final class WebMetrics: Sendable {
    /// Where a reservation came in.
    enum Channel: String, Sendable {
        case form
        case api
    }

    private let factory: any MetricsFactory
    private let requests = Mutex<[RequestKey: Counter]>([:])
    private let durations = Mutex<[DurationKey: Timer]>([:])
    private let acceptDurations: [Channel: Timer]
    private let localReads: [String: Counter]
    private let errors = Mutex<[String: Counter]>([:])
    private let reservations = Mutex<[ReservationKey: Counter]>([:])
    private let cancellations = Mutex<[String: Counter]>([:])

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private struct DurationKey: Hashable {
        var route: String
        var method: String
    }

    private struct ReservationKey: Hashable {
        var channel: Channel
        var outcome: String
    }

    static let requestsLabel = "rananeeti_http_requests_total"
    static let requestDurationLabel = "rananeeti_http_request_duration_seconds"
    static let acceptDurationLabel = "rananeeti_accept_duration_seconds"
    static let localReadsLabel = "rananeeti_local_fallback_reads_total"
    static let errorsLabel = "rananeeti_http_errors_total"
    static let reservationsLabel = "rananeeti_reservation_requests_total"
    static let cancellationsLabel = "rananeeti_cancellation_requests_total"

    init(factory: any MetricsFactory) {
        self.factory = factory
        var acceptDurations: [Channel: Timer] = [:]
        for channel in [Channel.form, .api] {
            acceptDurations[channel] = Timer(
                label: Self.acceptDurationLabel, dimensions: [("channel", channel.rawValue)], factory: factory)
        }
        self.acceptDurations = acceptDurations
        var localReads: [String: Counter] = [:]
        for read in ["status", "list", "mine"] {
            localReads[read] = Counter(label: Self.localReadsLabel, dimensions: [("read", read)], factory: factory)
        }
        self.localReads = localReads
    }

    /// Counts one answered request and its duration, by route (the router's pattern, never the raw path,
    /// so that the number of series stays bounded), method and status.
    func recordRequest(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let key = RequestKey(route: route, method: method.rawValue, status: status.code)
        let counter = requests.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: Self.requestsLabel,
                dimensions: [("route", route), ("method", key.method), ("status", String(status.code))],
                factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
        let durationKey = DurationKey(route: route, method: key.method)
        let timer = durations.withLock { timers in
            if let timer = timers[durationKey] { return timer }
            let timer = Timer(
                label: Self.requestDurationLabel, dimensions: [("route", route), ("method", key.method)],
                factory: factory)
            timers[durationKey] = timer
            return timer
        }
        timer.record(duration: duration)
    }

    /// How long the book took to store a reservation durably.
    func recordAccept(channel: Channel, duration: Duration) {
        acceptDurations[channel]?.record(duration: duration)
    }

    /// A read the database could not answer in time, answered from this node's projection.
    func recordRead(_ read: String, source: ReadSource) {
        guard source == .local else { return }
        localReads[read]?.increment()
    }

    /// A cancellation's outcome (`cancelled`, `log_unavailable`), by the canceller's role.
    func recordCancellation(role: CancellerRole, outcome: String) {
        let key = role.rawValue + "/" + outcome
        let counter = cancellations.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: Self.cancellationsLabel, dimensions: [("role", role.rawValue), ("outcome", outcome)],
                factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// A reservation request's outcome: `accepted`, `already_accepted`, `invalid`, `malformed`, `log_unavailable`.
    func recordReservation(channel: Channel, outcome: String) {
        let key = ReservationKey(channel: channel, outcome: outcome)
        let counter = reservations.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: Self.reservationsLabel, dimensions: [("channel", channel.rawValue), ("outcome", outcome)],
                factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// An error answer (4xx or 5xx), by problem type.
    func recordError(_ problem: ProblemType) {
        let counter = errors.withLock { counters in
            if let counter = counters[problem.rawValue] { return counter }
            let counter = Counter(label: Self.errorsLabel, dimensions: [("problem", problem.rawValue)], factory: factory)
            counters[problem.rawValue] = counter
            return counter
        }
        counter.increment()
    }
}

extension Timer {
    fileprivate func record(duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
