import Metrics

/// The projector's metric objects, made once (swift-metrics).
struct ProjectorMetrics {
    let lagEvents: Gauge
    let lagSeconds: Gauge
    let connected: Gauge
    let inserted: Counter
    let duplicate: Counter
    let deadLettered: Counter
    /// Cancellations written into `cafe.cancellations` (new ones only).
    let cancellations: Counter
    let failures: Counter
    /// Rewinds of the database found and healed (the checkpoint row behind what this projector committed).
    let rewinds: Counter
    let batchDuration: Timer

    init(node: String) {
        let dimensions = [("node", node)]
        lagEvents = Gauge(label: "rananeeti_projector_lag_events", dimensions: dimensions)
        lagSeconds = Gauge(label: "rananeeti_projector_lag_seconds", dimensions: dimensions)
        connected = Gauge(label: "rananeeti_projector_connected", dimensions: dimensions)
        inserted = Counter(label: "rananeeti_projector_events_total", dimensions: dimensions + [("outcome", "inserted")])
        duplicate = Counter(label: "rananeeti_projector_events_total", dimensions: dimensions + [("outcome", "duplicate")])
        deadLettered = Counter(label: "rananeeti_projector_events_total", dimensions: dimensions + [("outcome", "dead_letter")])
        cancellations = Counter(label: "rananeeti_projector_cancellations_total", dimensions: dimensions)
        failures = Counter(label: "rananeeti_projector_failures_total", dimensions: dimensions)
        rewinds = Counter(label: "rananeeti_projector_rewinds_total", dimensions: dimensions)
        batchDuration = Timer(label: "rananeeti_projector_batch_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }
}
