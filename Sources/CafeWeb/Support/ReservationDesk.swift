import EventLog
import HTTPTypes
import Identity
import Logging
import Orders
import Projection

/// The book, as both the website and the API use it: taking reservations with their metrics and log lines,
/// and reads that count how often the database did not answer.
struct ReservationDesk: Sendable {
    let book: any ReservationBook
    let metrics: WebMetrics
    let retryAfterSeconds: Int

    /// Takes `reservation`, booked by `guest` (nil: nobody signed in), with the request's `Idempotency-Key`
    /// if any; a log that cannot store it becomes a 503 that says to retry, a reservation cancelled before a 409.
    func accept(
        _ reservation: Reservation, guest: GuestIdentity? = nil, idempotencyKey: String? = nil,
        channel: WebMetrics.Channel, logger: Logger
    ) async throws(WebError) -> AcceptOutcome {
        let start = ContinuousClock.now
        let outcome: AcceptOutcome
        do {
            outcome = try await book.accept(reservation, by: guest, idempotencyKey: idempotencyKey)
        } catch is ReservationWasCancelled {
            metrics.recordReservation(channel: channel, outcome: "cancelled_before")
            throw .reservationCancelled
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

    /// One reservation's status for `visitor`, as `policy` allows: a link token of the wrong form is a 400;
    /// on the public listener, without a private link that opens it or a signed-in person, a sign-in is
    /// required; a reservation that is not the visitor's is answered as if it did not exist (`reference`
    /// names it as the request did). A reservation found nowhere is `nil`, for the caller to answer;
    /// `linkOpens` says whether the token is its private link (which may then be shown again).
    func status(
        of digest: ReservationDigest, reference: String, token: String?, visitor: Visitor, policy: AccessPolicy
    ) async throws(WebError) -> (status: ReservationStatus?, source: ReadSource, linkOpens: Bool) {
        if let token, !StatusLinks.isWellFormed(token) { throw .malformedLinkToken }
        let linkOpens = token.map { policy.links.isValid($0, for: digest) } ?? false
        if !linkOpens && visitor.user == nil && policy.listener == .public {
            throw .signInRequired
        }
        let answer = await status(of: digest)
        if let found = answer.status, !policy.mayRead(found, visitor: visitor, token: token) {
            throw .notYourReservation(reference)
        }
        return (answer.status, answer.source, linkOpens)
    }

    func list(from: LocalDateTime, to: LocalDateTime, limit: Int, after cursor: ReservationCursor?) async
        -> ReservationPage
    {
        let page = await book.list(from: from, to: to, limit: limit, after: cursor)
        metrics.recordRead("list", source: page.source)
        return page
    }

    /// Cancels the reservation with `digest` for `visitor`, when the policy lets them.
    ///
    /// - Returns: the reservation as it is now, and whether this call cancelled it (false: it was already).
    /// - Throws: a ``WebError``: 404 for a reservation that is not the visitor's (whether or not it exists),
    ///   409 for one whose time has come, 422 for a bad reason, 503 when the log cannot store the cancellation
    ///   or the reservation cannot be found while the database is away.
    func cancel(
        _ digest: ReservationDigest, visitor: Visitor, reason: String, policy: AccessPolicy, logger: Logger
    ) async throws(WebError) -> (status: ReservationStatus, cancelledNow: Bool) {
        let (found, source) = await status(of: digest)
        guard let status = found else {
            // A miss is final where there is no database to ask; where there is one and it did not answer, the
            // reservation may be another node's.
            if source == .local, await book.health().databaseConfigured {
                throw WebError(
                    status: .serviceUnavailable, problem: .reservationNotFound,
                    detail: "The cafe's book is not reachable right now, and this server does not hold that reservation, so it could not be cancelled. Your booking is safe; please try again in a minute.",
                    headers: [.retryAfter: "30"], source: .local)
            }
            throw .notYourReservation(digest.description)
        }
        let role: CancellerRole
        switch policy.mayCancel(status, visitor: visitor) {
        case .notYours: throw .notYourReservation(digest.description)
        case .past: throw .reservationPast
        case .alreadyCancelled: return (status, false)
        case .allowed(let allowed): role = allowed
        }
        do {
            switch try await book.cancel(digest, by: visitor.identity!, role: role, reason: reason) {
            case .cancelled(let status):
                metrics.recordCancellation(role: role, outcome: "cancelled")
                logger.info("Reservation cancelled", metadata: [LogKey.digest: "\(digest)", "cancel.role": "\(role.rawValue)"])
                return (status, true)
            case .alreadyCancelled(let status):
                return (status, false)
            case .notFound:
                throw WebError.notYourReservation(digest.description)
            }
        } catch let error as WebError {
            throw error
        } catch let invalid as ReservationValidationError {
            throw WebError(
                status: .unprocessableContent, problem: .invalidCancellation,
                detail: "\(invalid.problems.first?.message ?? "The reason is not valid.") Nothing was changed.")
        } catch let error as LogError {
            metrics.recordCancellation(role: role, outcome: "log_unavailable")
            logger.info("The log could not store a cancellation; answered 503", metadata: [LogKey.error: "\(error)"])
            throw .logUnavailable(retryAfterSeconds: retryAfterSeconds)
        } catch is NodeIsDraining {
            throw .nodeDraining
        } catch {
            logger.error("Unexpected error cancelling a reservation; answered 500", metadata: [LogKey.error: "\(error)"])
            throw .internalError
        }
    }

    func reservations(of guest: GuestIdentity, now: LocalDateTime, limit: Int = 200) async -> GuestReservations {
        let answer = await book.reservations(of: guest, now: now, limit: limit)
        metrics.recordRead("mine", source: answer.source)
        return answer
    }
}
