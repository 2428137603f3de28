import EventLog
import Logging
import Orders
import Projection

/// The book, as both the website and the API use it: taking reservations with their metrics and log lines,
/// and reads that count how often the database did not answer.
struct ReservationDesk: Sendable {
    let book: any ReservationBook
    let metrics: WebMetrics
    let retryAfterSeconds: Int

    /// Takes `reservation` (with the request's `Idempotency-Key`, if any); a log that cannot store it becomes a 503 that says to retry.
    func accept(
        _ reservation: Reservation, idempotencyKey: String? = nil, channel: WebMetrics.Channel, logger: Logger
    ) async throws(WebError) -> AcceptOutcome {
        let start = ContinuousClock.now
        let outcome: AcceptOutcome
        do {
            outcome = try await book.accept(reservation, idempotencyKey: idempotencyKey)
        } catch let error as LogError {
            metrics.recordReservation(channel: channel, outcome: "log_unavailable")
            // The guest is told only that it was not stored; the operator gets the log's own words.
            // Info, not error: the writer's stop or the full disk is reported once where the log is opened; this
            // line is per refused request, and an outage must not flood the log.
            logger.info(
                "The log could not store a reservation; answered 503",
                metadata: [LogKey.error: "\(error)", "log.error.code": "\(error.code)"])
            throw .logUnavailable(retryAfterSeconds: retryAfterSeconds)
        } catch is NodeIsDraining {
            metrics.recordReservation(channel: channel, outcome: "node_draining")
            throw .nodeDraining
        } catch {
            metrics.recordReservation(channel: channel, outcome: "error")
            logger.error("Unexpected error taking a reservation; answered 500", metadata: [LogKey.error: "\(error)"])
            throw .internalError
        }
        metrics.recordAccept(channel: channel, duration: .now - start)
        let outcomeName: String
        switch outcome {
        case .accepted: outcomeName = "accepted"
        case .alreadyAccepted: outcomeName = "already_accepted"
        }
        metrics.recordReservation(channel: channel, outcome: outcomeName)
        logger.debug(
            "Reservation taken",
            metadata: [LogKey.digest: "\(outcome.status.digest)", LogKey.outcome: .string(outcomeName)])
        return outcome
    }

    func status(of digest: ReservationDigest) async -> (status: ReservationStatus?, source: ReadSource) {
        let answer = await book.status(of: digest)
        metrics.recordRead("status", source: answer.source)
        return answer
    }

    func list(from: LocalDateTime, to: LocalDateTime, limit: Int, after cursor: ReservationCursor?) async
        -> ReservationPage
    {
        let page = await book.list(from: from, to: to, limit: limit, after: cursor)
        metrics.recordRead("list", source: page.source)
        return page
    }
}
