import Hummingbird
import Logging
import HTTPTypes
import Identity
import Orders
import Projection

/// The website: the form, the status page, the list, and what they need (stylesheet, icon).
struct SiteRoutes: Sendable {
    let desk: ReservationDesk
    let pages: SitePages
    let calendar: CafeCalendar
    let configuration: WebConfiguration
    let policy: AccessPolicy

    func register(on router: Router<CafeRequestContext>) {
        router.get("/") { _, context in home(context: context) }
        router.post("/order") { request, context in try await order(request, context: context) }
        // Someone who reloads or bookmarks the form's target lands on the form.
        router.get("/order") { _, _ in Response.seeOther("/") }
        router.get("/orders/{digest}") { request, context in try await status(request, context: context) }
        router.get("/reservations") { request, context in try await list(request, context: context) }
        router.get(RouterPath(stringLiteral: Stylesheet.path)) { _, _ in
            Response.bytes(
                Array(Stylesheet.css.utf8), headers: [.cacheControl: "public, max-age=3600"],
                contentType: "text/css; charset=utf-8")
        }
        router.get("/favicon.svg") { _, _ in
            Response.bytes(
                Array(CupIcon.svg.utf8), headers: [.cacheControl: "public, max-age=86400"],
                contentType: "image/svg+xml")
        }
    }

    private func viewer(_ context: CafeRequestContext) -> PageViewer {
        PageViewer(context: context, configuration: configuration)
    }

    /// Whether booking waits for a sign-in that has not happened.
    private func needsSignIn(_ context: CafeRequestContext) -> Bool {
        configuration.requireSignIn && context.visitor.user == nil
    }

    /// `GET /`: the form (its name prefilled for a signed-in guest), or a way to sign in first.
    private func home(context: CafeRequestContext) -> Response {
        let form = ReservationFormView(
            values: ReservationForm(name: context.visitor.user?.name), problems: nil,
            formToken: context.visitor.session?.formToken)
        return .html(pages.home(form: form, viewer: viewer(context), needsSignIn: needsSignIn(context)))
    }

    /// `POST /order`: a valid form is taken and the guest sent to its status page; an invalid one comes
    /// back filled in, with a message at each field in error.
    private func order(_ request: Request, context: CafeRequestContext) async throws -> Response {
        guard !needsSignIn(context) else { throw WebError.signInRequired }
        guard mediaType(of: request.headers[.contentType]) == "application/x-www-form-urlencoded" else {
            desk.metrics.recordReservation(channel: .form, outcome: "malformed")
            throw WebError(
                status: .unsupportedMediaType, problem: .malformedForm,
                detail: "The reservation must be sent by the form on our home page. Please go back and use the form.")
        }
        let body = try await RequestBodyReader.read(
            request, limit: configuration.maximumRequestBodyBytes, incomplete: .malformedForm)
        let fields = try FormFields(body: body)
        if let session = context.visitor.session {
            guard let presented = fields["formToken"], OperationsRoutes.constantTimeEquals(presented, session.formToken)
            else { throw WebError.crossSiteRequest }
        }
        let form = ReservationForm(
            name: fields["name"], people: fields["people"], dateTime: fields["datetime"], notes: fields["notes"],
            testFailures: fields["testFailures"])
        let reservation: Reservation
        do {
            reservation = try Reservation(form: form)
        } catch {
            desk.metrics.recordReservation(channel: .form, outcome: "invalid")
            context.logger.debug("Form refused", metadata: [LogKey.error: "\(error)"])
            let view = ReservationFormView(values: form, problems: error, formToken: context.visitor.session?.formToken)
            return .html(pages.home(form: view, viewer: viewer(context)), status: .unprocessableContent)
        }
        let outcome = try await desk.accept(
            reservation, guest: context.visitor.identity, channel: .form, logger: context.logger)
        let digest = outcome.status.digest
        return .seeOther("/orders/\(digest)?token=\(configuration.statusLinks.token(for: digest))")
    }

    /// `GET /orders/{digest}?token=…`: where one reservation is, for whoever holds its private link, the guest
    /// who booked it, and staff. A stranger without the link is asked to sign in, whether or not the
    /// reservation exists; someone signed in who may not see it is told it is not theirs, the same way.
    private func status(_ request: Request, context: CafeRequestContext) async throws -> Response {
        let text = context.parameters.get("digest") ?? ""
        let token = request.uri.queryParameters.get("token").map { String($0) }
        guard let digest = ReservationDigest(text) else {
            throw WebError(
                status: .badRequest, problem: .invalidDigest,
                detail: "The address does not hold a reservation reference. A reference is 20 characters, each 0-9 or a-f, as in the link you were given after booking. Please check the link.")
        }
        let (found, source, linkOpens) = try await desk.status(
            of: digest, reference: text, token: token, visitor: context.visitor, policy: policy)
        guard let status = found else {
            throw WebError(
                status: .notFound, problem: .reservationNotFound,
                detail: source == .local
                    ? "This server does not know a reservation with reference \(digest), and our database is not answering right now, so it may simply be out of reach. Please try again in a minute."
                    : "We have no reservation with reference \(digest). Please check the link, or book again: booking the same table twice is harmless.",
                source: source)
        }
        var options = SitePages.StatusOptions(showsInternals: configuration.listener == .operator, linkToken: linkOpens ? token : nil)
        if case .allowed(let role) = policy.mayCancel(status, visitor: context.visitor),
            let formToken = context.visitor.session?.formToken
        {
            options.cancelFormToken = formToken
            options.cancelsAsStaff = role == .staff
        }
        return .html(pages.status(status, source: source, viewer: viewer(context), options: options), headers: .source(source))
    }

    /// `GET /reservations?from=YYYY-MM-DD&days=N&cursor=…`: the book, upcoming reservations by day, for
    /// staff (and on the operator listener).
    private func list(_ request: Request, context: CafeRequestContext) async throws -> Response {
        guard policy.mayReadBook(context.visitor) else {
            throw context.visitor.user == nil ? WebError.signInRequired : WebError.staffOnly
        }
        let parameters = request.uri.queryParameters
        let options = configuration.options
        var from = calendar.startOfToday()
        if let text = parameters.get("from"), !text.isEmpty {
            guard let day = CafeCalendar.parseDay(text) else {
                throw WebError(
                    status: .badRequest, problem: .invalidQuery,
                    detail: "The start date must be a day written as YYYY-MM-DD, for example 2026-05-01.")
            }
            from = day
        }
        var days = options.defaultListDays
        if let text = parameters.get("days"), !text.isEmpty {
            guard let value = Int(text), (1...options.websiteListMaximumDays).contains(value) else {
                throw WebError(
                    status: .badRequest, problem: .invalidQuery,
                    detail: "The number of days must be a whole number from 1 to \(options.websiteListMaximumDays).")
            }
            days = value
        }
        var cursor: ReservationCursor?
        if let cursorText = parameters.get("cursor"), !cursorText.isEmpty {
            guard let decoded = CursorText.decode(cursorText) else {
                throw WebError(
                    status: .badRequest, problem: .invalidQuery,
                    detail: "The link to later reservations is damaged. Please start again from the list of upcoming reservations.")
            }
            cursor = decoded
        }
        // The last moment shown is the end of the last day; past year 9999 there is nothing to show.
        let to = calendar.adding(days: days, to: from) ?? (try! LocalDateTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59))
        let page = await desk.list(from: from, to: to, limit: options.websiteListPageSize, after: cursor)
        let query = SitePages.ListQuery(from: from, days: days)
        return .html(
            pages.list(query: query, page: page, nextCursorText: page.nextCursor.map(CursorText.encode), viewer: viewer(context)),
            headers: .source(page.source))
    }
}
