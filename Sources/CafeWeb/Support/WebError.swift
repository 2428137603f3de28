import HTTPTypes
import Projection

/// A request that ends in an error: what happened and what to do, for a person.
///
/// Handlers throw it; ``RequestObservingMiddleware`` turns it into an RFC 9457 `application/problem+json`
/// body for the API and the operations endpoints, or into a page for the website. Its `detail` is always
/// written for the person reading it and never carries internals (paths, system errors, stack traces).
struct WebError: Error, Sendable {
    var status: HTTPResponse.Status
    var problem: ProblemType
    /// What happened and what to do, in sentences.
    var detail: String
    /// Extra response headers, such as `Retry-After` or `WWW-Authenticate`.
    var headers: HTTPFields = [:]
    /// RFC 9457 extension members, such as the per-field `errors` of an invalid reservation.
    var extensions: [(String, JSONValue)] = []
    /// Where the answer came from, when it came from reading the book (a 404 for a digest this node
    /// does not know while the database is down says `local`).
    var source: ReadSource? = nil
}

/// The kinds of problem the service reports; each has a URI (`type`) and a fixed title (RFC 9457 section 3.1).
enum ProblemType: String, Sendable, CaseIterable {
    case malformedJSON = "malformed-json"
    case malformedForm = "malformed-form"
    case invalidReservation = "invalid-reservation"
    case invalidQuery = "invalid-query"
    case invalidDigest = "invalid-digest"
    case reservationNotFound = "reservation-not-found"
    case noSuchEndpoint = "no-such-endpoint"
    case methodNotAllowed = "method-not-allowed"
    case bodyTooLarge = "body-too-large"
    case unsupportedMediaType = "unsupported-media-type"
    case invalidIdempotencyKey = "invalid-idempotency-key"
    case idempotencyKeyReused = "idempotency-key-reused"
    case logUnavailable = "log-unavailable"
    case rateLimited = "rate-limited"
    case nodeDraining = "node-draining"
    case signInRequired = "sign-in-required"
    case staffOnly = "staff-only"
    case invalidToken = "invalid-token"
    case crossSiteRequest = "cross-site-request"
    case signInFailed = "sign-in-failed"
    case signInUnavailable = "sign-in-unavailable"
    case reservationCancelled = "reservation-cancelled"
    case reservationPast = "reservation-past"
    case invalidCancellation = "invalid-cancellation"
    case unauthorized = "unauthorized"
    case invalidFault = "invalid-fault"
    case faultsUnavailable = "faults-unavailable"
    case internalError = "internal-error"

    /// The problem's `type`: a path on this server whose page explains it.
    var uri: String { "/api/v1/problems/\(rawValue)" }

    /// A short summary that does not change from occurrence to occurrence.
    var title: String {
        switch self {
        case .malformedJSON: "The request body is not valid JSON"
        case .malformedForm: "The form could not be read"
        case .invalidReservation: "The reservation has problems"
        case .invalidQuery: "A query parameter is not valid"
        case .invalidDigest: "That is not a reservation reference"
        case .reservationNotFound: "No such reservation"
        case .noSuchEndpoint: "No such page or endpoint"
        case .methodNotAllowed: "This method is not allowed here"
        case .bodyTooLarge: "The request body is too large"
        case .unsupportedMediaType: "The request body must be JSON"
        case .invalidIdempotencyKey: "The Idempotency-Key header is not valid"
        case .idempotencyKeyReused: "The Idempotency-Key was used for a different reservation"
        case .logUnavailable: "Reservations cannot be stored right now"
        case .rateLimited: "Too many requests from your address"
        case .nodeDraining: "This server is going out of service"
        case .signInRequired: "Please sign in"
        case .staffOnly: "Only the cafe's staff can see this"
        case .invalidToken: "The access token is not valid"
        case .crossSiteRequest: "The request came from another site"
        case .signInFailed: "The sign-in did not succeed"
        case .signInUnavailable: "Signing in is not possible right now"
        case .reservationCancelled: "This reservation was cancelled"
        case .reservationPast: "This reservation is in the past"
        case .invalidCancellation: "The cancellation has a problem"
        case .unauthorized: "Authentication is required"
        case .invalidFault: "The fault request is not valid"
        case .faultsUnavailable: "This node cannot simulate faults"
        case .internalError: "Something went wrong on our side"
        }
    }

    /// What the problem means and what a client should do, for the page at ``uri``.
    var explanation: String {
        switch self {
        case .malformedJSON:
            "The body could not be parsed as one JSON object. `detail` names the byte where reading stopped. Fix the body and send it again."
        case .malformedForm:
            "The form body is not valid application/x-www-form-urlencoded UTF-8. Send the form from the reservation page."
        case .invalidReservation:
            "The body is a JSON object, but some fields are missing, unknown, of the wrong type or against the rules. The `errors` member lists every problem with its field; fix them and send again. Nothing was stored."
        case .invalidQuery:
            "A query parameter (from, to, limit or cursor) could not be understood. `detail` says which and what is expected."
        case .invalidDigest:
            "A reservation reference (digest) is 20 characters, each 0-9 or a-f, as given in the Location header when the reservation was made."
        case .reservationNotFound:
            "Neither the database nor this node knows a reservation with this reference. When the response says X-Rananeeti-Source: local, the database did not answer in time and the reservation may be known to another node: try again later."
        case .noSuchEndpoint:
            "Nothing is served at this path with this method. The API is described at /api/v1/openapi.json."
        case .methodNotAllowed:
            "The path exists, but not with this method. The Allow header lists the methods it takes; the API is described at /api/v1/openapi.json."
        case .bodyTooLarge:
            "The request body is larger than this server reads. A reservation is far smaller; check what is being sent."
        case .unsupportedMediaType:
            "Send reservations with Content-Type: application/json."
        case .invalidIdempotencyKey:
            "An Idempotency-Key is 1 to 255 visible ASCII characters, such as a UUID."
        case .idempotencyKeyReused:
            "An Idempotency-Key names one request. Reusing it with a different reservation is refused; use a new key for a new reservation. Keys are remembered for 24 hours."
        case .logUnavailable:
            "This node could not store the reservation durably (for example, its disk is full or its log has stopped), so nothing was stored. Retry after the number of seconds in Retry-After; the same reservation is never stored twice."
        case .rateLimited:
            "Each client address may send only so many reservations a second (with short bursts allowed). Nothing was stored; wait the number of seconds in Retry-After and send it again. Sending the same reservation again is safe."
        case .nodeDraining:
            "The server that answered is being retired and takes no new reservations; the others do. Nothing was stored. Send it again (after Retry-After seconds): the load balancer sends it to another server, and the same reservation is never stored twice."
        case .signInRequired:
            "This needs a signed-in person: in a browser, sign in from the site; from a program, send the provider's access token as Authorization: Bearer TOKEN. A reservation's own status also opens with the private link (its token) given when it was made."
        case .staffOnly:
            "The book of every guest's reservations is for the cafe's staff. Guests see their own reservations under My reservations."
        case .invalidToken:
            "The bearer token is not one this site accepts: expired, for another application, from another issuer, or not signed by the provider. Get a new token from the provider and send it again."
        case .crossSiteRequest:
            "Forms of this site can only be sent from its own pages. Go to the page and send the form from there."
        case .signInFailed:
            "The sign-in could not be completed: it expired, was used already, or the provider refused it. Start again from the sign-in button."
        case .signInUnavailable:
            "The sign-in service (the identity provider) cannot be reached. Bookings already made are safe; try signing in again in a few minutes."
        case .reservationCancelled:
            "Exactly this reservation (the same name, party size, time and message) was cancelled, and a cancellation is final. To book the same table again, change something, for example add a note."
        case .reservationPast:
            "A reservation whose time has come can no longer be cancelled."
        case .invalidCancellation:
            "The reason for a cancellation is optional, one line of at most 200 characters."
        case .unauthorized:
            "This endpoint needs the administrator's bearer token in the Authorization header."
        case .invalidFault:
            "Ask for a database outage as {\"databaseUnreachableSeconds\": N}, with N a whole number of seconds within the allowed range."
        case .faultsUnavailable:
            "This node was started without fault injection."
        case .internalError:
            "An unexpected error. Nothing internal is shown; the request id in X-Request-Id finds it in the server's log. Retrying a reservation is safe: the same reservation is never stored twice."
        }
    }
}

extension WebError {
    static func noSuchEndpoint(method: HTTPRequest.Method, path: String) -> WebError {
        WebError(
            status: .notFound, problem: .noSuchEndpoint,
            detail: "There is nothing at \(method) \(path). The API is described at /api/v1/openapi.json.")
    }

    static func methodNotAllowed(method: HTTPRequest.Method, path: String, allowed: [HTTPRequest.Method]) -> WebError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return WebError(
            status: .methodNotAllowed, problem: .methodNotAllowed,
            detail: "\(path) does not take \(method); it takes \(list).", headers: [.allow: list])
    }

    static func bodyTooLarge(limit: Int) -> WebError {
        WebError(
            status: .contentTooLarge, problem: .bodyTooLarge,
            detail: "The request body is larger than \(limit / 1024) KiB, which is more than any reservation needs. Nothing was stored; shorten it and send again.")
    }

    static func logUnavailable(retryAfterSeconds: Int) -> WebError {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfterSeconds)
        return WebError(
            status: .serviceUnavailable, problem: .logUnavailable,
            detail: "We could not store your reservation just now, so nothing was saved. Please try again in \(retryAfterSeconds) seconds; sending the same reservation again is safe, it is never booked twice.",
            headers: headers)
    }

    static func rateLimited(retryAfterSeconds: Int) -> WebError {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfterSeconds)
        return WebError(
            status: .tooManyRequests, problem: .rateLimited,
            detail: "Too many reservations were sent from your address just now, so this one was not saved. Please try again in \(retryAfterSeconds) seconds; sending the same reservation again is safe, it is never booked twice.",
            headers: headers)
    }

    /// Short: the load balancer stops sending to a draining node within seconds, so a retry lands elsewhere.
    static let nodeDraining = WebError(
        status: .serviceUnavailable, problem: .nodeDraining,
        detail: "This server is going out of service and did not save your reservation. Please send it again in a moment; another server will take it, and sending the same reservation again is safe, it is never booked twice.",
        headers: [.retryAfter: "2"])

    /// Someone who has not signed in asked for what needs it. `WWW-Authenticate` names the bearer scheme, as
    /// RFC 6750 asks of a 401.
    static let signInRequired = WebError(
        status: .unauthorized, problem: .signInRequired,
        detail: "Please sign in first. Bookings already made are safe; a reservation's status also opens with the private link you were given when you booked.",
        headers: [.wwwAuthenticate: "Bearer realm=\"rananeeti\""])

    static let staffOnly = WebError(
        status: .forbidden, problem: .staffOnly,
        detail: "Only the cafe's staff can see every guest's reservations. Your own bookings are under My reservations.")

    static let invalidToken = WebError(
        status: .unauthorized, problem: .invalidToken,
        detail: "The access token was not accepted (expired, for another application, or not signed by our sign-in provider). Get a new one and send the request again.",
        headers: [.wwwAuthenticate: "Bearer realm=\"rananeeti\", error=\"invalid_token\""])

    static let crossSiteRequest = WebError(
        status: .forbidden, problem: .crossSiteRequest,
        detail: "This form was sent from another site, or from a page that has since expired, so nothing was done. Please go back to our page, reload it, and send the form again.")

    static let signInUnavailable = WebError(
        status: .serviceUnavailable, problem: .signInUnavailable,
        detail: "Signing in is not possible right now: our sign-in service is not reachable. Please try again in a few minutes; bookings you already made are safe.",
        headers: [.retryAfter: "30"])

    /// Not found, and not saying whether it exists: for a reservation that is not the visitor's.
    static func notYourReservation(_ digest: String) -> WebError {
        WebError(
            status: .notFound, problem: .reservationNotFound,
            detail: "There is no reservation of yours with reference \(digest). Please check the link; a reservation's status opens with the private link given when it was booked.")
    }

    static let reservationCancelled = WebError(
        status: .conflict, problem: .reservationCancelled,
        detail: "You cancelled exactly this booking earlier, and a cancellation is final. To book the same table again, change something, for example add a note such as \"booked again\".")

    static let malformedLinkToken = WebError(
        status: .badRequest, problem: .invalidQuery,
        detail: "The link's token is damaged: a private link's token is 22 letters, digits, - or _, exactly as in the link you were given. Please check the link.")

    static let reservationPast = WebError(
        status: .conflict, problem: .reservationPast,
        detail: "The time of this reservation has come, so it can no longer be cancelled.")

    static let internalError = WebError(
        status: .internalServerError, problem: .internalError,
        detail: "Something went wrong on our side. Please try again; sending the same reservation again is safe, it is never booked twice.")
}
