import Foundation
import Hummingbird
import Logging
import HTTPTypes
import Identity
import Orders
import Projection

/// The JSON API under `/api/v1`, as `docs/openapi.json` describes it.
struct APIRoutes: Sendable {
    let desk: ReservationDesk
    let calendar: CafeCalendar
    let configuration: WebConfiguration
    let pages: SitePages
    let policy: AccessPolicy

    func register(on router: Router<CafeRequestContext>) {
        let api = router.group("/api/v1")
        api.post("/reservations") { request, context in try await create(request, context: context) }
        api.get("/reservations") { request, context in try await list(request, context: context) }
        api.get("/reservations/{digest}") { request, context in try await show(request, context: context) }
        if configuration.listener == .public {
            api.post("/reservations/{digest}/cancellation") { request, context in
                try await cancel(request, context: context)
            }
            api.get("/me/reservations") { _, context in try await mine(context: context) }
        }
        api.get("/openapi.json") { _, _ in
            Response.bytes(
                Array(OpenAPIDocument.json.utf8), headers: [.cacheControl: "no-cache"], contentType: "application/json")
        }
        api.get("/problems/{type}") { request, context in
            guard let problem = context.parameters.get("type").flatMap(ProblemType.init(rawValue:)) else {
                throw WebError.noSuchEndpoint(method: request.method, path: request.uri.path)
            }
            return Response.html(pages.problemType(problem), headers: [.cacheControl: "public, max-age=3600"])
        }
    }

    // MARK: POST /api/v1/reservations

    private func create(_ request: Request, context: CafeRequestContext) async throws -> Response {
        if configuration.requireSignIn && context.visitor.user == nil { throw WebError.signInRequired }
        guard mediaType(of: request.headers[.contentType]) == "application/json" else {
            desk.metrics.recordReservation(channel: .api, outcome: "malformed")
            throw WebError(
                status: .unsupportedMediaType, problem: .unsupportedMediaType,
                detail: "Send the reservation as a JSON object with Content-Type: application/json (this request said \(request.headers[.contentType].map { "\"\($0)\"" } ?? "nothing")).",
                headers: [.acceptPost: "application/json"])
        }
        let key = try idempotencyKey(request)
        let body = try await RequestBodyReader.read(request, limit: configuration.maximumRequestBodyBytes)
        let reservation: Reservation
        do {
            reservation = try Reservation(jsonBody: body)
        } catch {
            switch error {
            case .malformedJSON(let syntax):
                desk.metrics.recordReservation(channel: .api, outcome: "malformed")
                throw WebError(
                    status: .badRequest, problem: .malformedJSON,
                    detail: "The body is not a JSON object: \(syntax.description). Nothing was stored.")
            case .invalid(let invalid):
                desk.metrics.recordReservation(channel: .api, outcome: "invalid")
                throw WebError(
                    status: .unprocessableContent, problem: .invalidReservation,
                    detail: "The reservation was not accepted: \(invalid.problems.count == 1 ? "one field has a problem" : "\(invalid.problems.count) fields have problems"), listed in errors. Nothing was stored.",
                    extensions: [("errors", ReservationJSON.errors(invalid))])
            }
        }
        let digest = reservation.digest
        if let key {
            switch desk.book.idempotencyKey(key, digest: digest) {
            case .replay(let first): return answer(first, replayed: true)
            case .conflict: throw keyReused(key)
            case .unknown: break
            }
        }
        let outcome = try await desk.accept(
            reservation, guest: context.visitor.identity, idempotencyKey: key, channel: .api, logger: context.logger)
        if let key {
            // Another request with the same key may have been first.
            switch desk.book.idempotencyKey(key, digest: digest) {
            case .replay(let first) where first != outcome: return answer(first, replayed: true)
            case .conflict: throw keyReused(key)
            default: break
            }
        }
        return answer(outcome, replayed: false)
    }

    /// The answer to a reservation request: 201 or 200 with the reservation, marked when it is a replay of the
    /// first answer to the same `Idempotency-Key`.
    private func answer(_ outcome: AcceptOutcome, replayed: Bool) -> Response {
        var headers: HTTPFields = [
            .location: location(of: outcome.status.digest), .rananeetiSource: ReadSource.local.rawValue,
        ]
        if replayed { headers[.idempotentReplayed] = "true" }
        return Response.bytes(
            ReservationJSON.resource(outcome.status, token: configuration.statusLinks.token(for: outcome.status.digest)),
            status: .init(code: Self.statusCode(of: outcome)), headers: headers, contentType: "application/json")
    }

    /// The reservation's `Location`: its path with the private-link token, so that following it works.
    private func location(of digest: ReservationDigest) -> String {
        ReservationJSON.path(of: digest) + "?token=" + configuration.statusLinks.token(for: digest)
    }

    /// 201 Created for a new reservation, 200 OK for one that was already taken.
    private static func statusCode(of outcome: AcceptOutcome) -> Int {
        switch outcome {
        case .accepted: 201
        case .alreadyAccepted: 200
        }
    }

    /// The `Idempotency-Key` header: nil when absent; a bare token or, as the IETF draft writes it, a
    /// quoted string.
    private func idempotencyKey(_ request: Request) throws(WebError) -> String? {
        let values = request.headers[values: .idempotencyKey]
        guard let raw = values.first else { return nil }
        var key = raw.trimmingASCIISpaces()
        if key.utf8.count >= 2, key.hasPrefix("\""), key.hasSuffix("\"") { key = String(key.dropFirst().dropLast()) }
        guard values.count == 1, IdempotencyKeyEvent.isValidKey(key) else {
            throw WebError(
                status: .badRequest, problem: .invalidIdempotencyKey,
                detail: "Idempotency-Key must appear once and be 1 to 255 visible ASCII characters, such as a UUID. Nothing was stored.")
        }
        return key
    }

    private func keyReused(_ key: String) -> WebError {
        WebError(
            status: .unprocessableContent, problem: .idempotencyKeyReused,
            detail: "The Idempotency-Key \"\(key)\" was already used for a different reservation. Use a new key for a new reservation. Nothing was stored.")
    }

    // MARK: GET /api/v1/reservations

    private func list(_ request: Request, context: CafeRequestContext) async throws -> Response {
        guard policy.mayReadBook(context.visitor) else {
            throw context.visitor.user == nil ? WebError.signInRequired : WebError.staffOnly
        }
        let parameters = request.uri.queryParameters
        let options = configuration.options
        func invalid(_ detail: String) -> WebError {
            WebError(status: .badRequest, problem: .invalidQuery, detail: detail)
        }
        var from = calendar.startOfToday()
        if let text = parameters.get("from") {
            guard let value = LocalDateTime(text) else {
                throw invalid("from must be a date and time written as YYYY-MM-DDTHH:MM, for example 2020-11-16T00:00.")
            }
            from = value
        }
        var to = calendar.adding(days: options.defaultListDays, to: from)
            ?? (try! LocalDateTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59))
        if let text = parameters.get("to") {
            guard let value = LocalDateTime(text) else {
                throw invalid("to must be a date and time written as YYYY-MM-DDTHH:MM, for example 2020-11-30T00:00.")
            }
            guard value >= from else { throw invalid("to (\(value)) must not be before from (\(from)).") }
            to = value
        }
        var limit = options.defaultPageSize
        if let text = parameters.get("limit") {
            guard let value = Int(text), (1...options.maximumPageSize).contains(value) else {
                throw invalid("limit must be a whole number from 1 to \(options.maximumPageSize).")
            }
            limit = value
        }
        var cursor: ReservationCursor?
        let cursorText = parameters.get("cursor")
        if let cursorText {
            guard let value = CursorText.decode(cursorText) else {
                throw invalid("cursor is not one this API gave out; pass nextCursor from a previous page unchanged.")
            }
            cursor = value
        }
        let page = await desk.list(from: from, to: to, limit: limit, after: cursor)
        let base = "/api/v1/reservations?from=\(from)&to=\(to)&limit=\(limit)"
        let next = page.nextCursor.map(CursorText.encode)
        // Written directly (no JSONValue tree), in the member order of docs/openapi.json's ReservationPage.
        var body: [UInt8] = []
        body.reserveCapacity(400 * page.items.count + 400)
        body += #"{"items":["#.utf8
        for (index, item) in page.items.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            ReservationJSON.append(item, showsInternals: configuration.listener == .operator, to: &body)
        }
        body += #"],"source":""#.utf8
        body += page.source.rawValue.utf8
        body += #"","from":""#.utf8
        from.appendText(to: &body)
        body += #"","to":""#.utf8
        to.appendText(to: &body)
        body += #"","limit":"#.utf8
        body += String(limit).utf8
        body += #","nextCursor":"#.utf8
        ReservationJSON.appendOptional(next, to: &body)
        body += #","links":{"self":"#.utf8
        JSONValue.appendString(base + (cursorText.map { "&cursor=\($0)" } ?? ""), to: &body)
        body += #","next":"#.utf8
        ReservationJSON.appendOptional(next.map { base + "&cursor=\($0)" }, to: &body)
        body += "}}".utf8
        return .bytes(body, headers: .source(page.source), contentType: "application/json")
    }

    // MARK: GET /api/v1/reservations/{digest}

    private func show(_ request: Request, context: CafeRequestContext) async throws -> Response {
        guard let digest = context.parameters.get("digest").flatMap({ ReservationDigest($0) }) else {
            throw WebError(
                status: .badRequest, problem: .invalidDigest,
                detail: "A reservation reference (digest) is 20 characters, each 0-9 or a-f, as in the Location of the reservation.")
        }
        let token = request.uri.queryParameters.get("token").map { String($0) }
        let (found, source, linkOpens) = try await desk.status(
            of: digest, reference: digest.description, token: token, visitor: context.visitor, policy: policy)
        guard let status = found else {
            throw WebError(
                status: .notFound, problem: .reservationNotFound,
                detail: source == .local
                    ? "This node does not know reservation \(digest), and the database did not answer in time; another node may know it. Try again later."
                    : "There is no reservation \(digest).",
                source: source)
        }
        // The token goes back to whoever already has it, or who booked it.
        let mayHaveToken = linkOpens || (status.guest != nil && status.guest == context.visitor.identity)
        return .bytes(
            ReservationJSON.resource(
                status, token: mayHaveToken ? configuration.statusLinks.token(for: digest) : nil,
                showsInternals: configuration.listener == .operator),
            headers: .source(source), contentType: "application/json")
    }

    // MARK: POST /api/v1/reservations/{digest}/cancellation

    /// Cancels an upcoming reservation for the guest who booked it, or for staff: `{"reason": "…"}` (optional).
    private func cancel(_ request: Request, context: CafeRequestContext) async throws -> Response {
        guard context.visitor.user != nil else { throw WebError.signInRequired }
        let text = context.parameters.get("digest") ?? ""
        guard let digest = ReservationDigest(text) else { throw WebError.notYourReservation(text) }
        let body = try await RequestBodyReader.read(request, limit: configuration.maximumRequestBodyBytes)
        var reason = ""
        if !body.isEmpty {
            guard mediaType(of: request.headers[.contentType]) == "application/json" else {
                throw WebError(
                    status: .unsupportedMediaType, problem: .unsupportedMediaType,
                    detail: "Send the cancellation as a JSON object, such as {\"reason\": \"plans changed\"}, with Content-Type: application/json, or with no body.",
                    headers: [.acceptPost: "application/json"])
            }
            reason = try CancellationBody.reason(from: body)
        }
        // 200 whether this call cancelled it or it was already: either way it is cancelled now.
        let (status, _) = try await desk.cancel(
            digest, visitor: context.visitor, reason: reason, policy: policy, logger: context.logger)
        let token = status.guest == context.visitor.identity ? configuration.statusLinks.token(for: digest) : nil
        return .bytes(ReservationJSON.resource(status, token: token), headers: .source(.local), contentType: "application/json")
    }

    // MARK: GET /api/v1/me/reservations

    /// The signed-in guest's own reservations, upcoming and past.
    private func mine(context: CafeRequestContext) async throws -> Response {
        guard let user = context.visitor.user else { throw WebError.signInRequired }
        let found = await desk.reservations(of: user.identity, now: calendar.now())
        let links = configuration.statusLinks
        var body: [UInt8] = Array(#"{"upcoming":["#.utf8)
        for (index, item) in found.upcoming.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            ReservationJSON.append(item, token: links.token(for: item.digest), to: &body)
        }
        body += #"],"past":["#.utf8
        for (index, item) in found.past.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            ReservationJSON.append(item, token: links.token(for: item.digest), to: &body)
        }
        body += #"],"source":""#.utf8
        body += found.source.rawValue.utf8
        body += #""}"#.utf8
        return .bytes(body, headers: .source(found.source), contentType: "application/json")
    }
}

/// The body of a cancellation: a JSON object with at most an optional string `reason`.
enum CancellationBody {
    static func reason(from body: [UInt8]) throws(WebError) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw WebError(
                status: .badRequest, problem: .malformedJSON,
                detail: "The body is not a JSON object. Send {\"reason\": \"…\"}, or no body at all. Nothing was changed.")
        }
        if let unknown = object.keys.sorted().first(where: { $0 != "reason" }) {
            throw WebError(
                status: .unprocessableContent, problem: .invalidCancellation,
                detail: "A cancellation takes only \"reason\"; \"\(unknown)\" is not known. Nothing was changed.")
        }
        switch object["reason"] {
        case nil, is NSNull: return ""
        case let text as String: return text
        default:
            throw WebError(
                status: .unprocessableContent, problem: .invalidCancellation,
                detail: "The reason must be a string. Nothing was changed.")
        }
    }
}
