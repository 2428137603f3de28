import Foundation
import Hummingbird
import HTTPTypes
import Identity
import Logging
import Orders
import Projection

/// Signing in and out, "My reservations", and cancelling from the site. Registered on the public listener
/// when a provider is configured.
struct AccountRoutes: Sendable {
    let signIn: SignInService
    let desk: ReservationDesk
    let pages: SitePages
    let policy: AccessPolicy
    let configuration: WebConfiguration

    func register(on router: Router<CafeRequestContext>) {
        router.get("/signin") { request, context in try await begin(request, context: context) }
        router.get("/signin/callback") { request, context in try await callback(request, context: context) }
        router.post("/signout") { request, context in try await signOut(request, context: context) }
        router.get("/my") { _, context in try await mine(context: context) }
        router.post("/orders/{digest}/cancel") { request, context in try await cancel(request, context: context) }
    }

    // MARK: Signing in and out

    /// `GET /signin?returnTo=/path`: off to the provider, with a sealed cookie that remembers this sign-in.
    private func begin(_ request: Request, context: CafeRequestContext) async throws -> Response {
        let started: (redirect: URL, cookie: String)
        do {
            started = try await signIn.begin(returnTo: request.uri.queryParameters.get("returnTo"))
        } catch {
            context.logger.warning("Could not start a sign-in", metadata: [LogKey.error: "\(error.message)"])
            throw WebError.signInUnavailable
        }
        var response = Response.seeOther(started.redirect.absoluteString)
        response.setCookie(
            cookie(
                SessionCookies.signInCookieName, started.cookie, path: "/signin",
                maxAge: Int(signIn.provider.configuration.signInLifetime.components.seconds)))
        return response
    }

    /// `GET /signin/callback?code=…&state=…`: the provider sends the browser back; the session starts.
    private func callback(_ request: Request, context: CafeRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let completed: (session: Session, cookie: String, returnTo: String)
        do {
            completed = try await signIn.complete(
                code: query.get("code"), state: query.get("state"), error: query.get("error"),
                cookie: request.cookies[SessionCookies.signInCookieName]?.value)
        } catch {
            context.logger.info("A sign-in did not complete", metadata: [LogKey.error: "\(error.message)"])
            var failure = WebError(
                status: error.code == .providerUnavailable || error.code == .misconfigured
                    ? .serviceUnavailable : .badRequest,
                problem: error.code == .providerUnavailable || error.code == .misconfigured
                    ? .signInUnavailable : .signInFailed,
                detail: error.guestMessage)
            failure.headers[values: .setCookie].append(expired(SessionCookies.signInCookieName, path: "/signin").description)
            throw failure
        }
        var response = Response.seeOther(completed.returnTo)
        response.setCookie(expired(SessionCookies.signInCookieName, path: "/signin"))
        response.setCookie(
            cookie(
                SessionCookies.sessionCookieName, completed.cookie, path: "/",
                maxAge: Int(signIn.provider.configuration.sessionLifetime.components.seconds)))
        return response
    }

    /// `POST /signout`: the session ends here (its cookie goes) and the browser goes home. The person stays
    /// signed in at their provider: signing out of this cafe must not sign them out of their Google or Microsoft
    /// account, and the page's `form-action 'self'` would not let the form's answer lead off the site anyway.
    private func signOut(_ request: Request, context: CafeRequestContext) async throws -> Response {
        let fields = try await FormFields(body: RequestBodyReader.read(request, limit: configuration.maximumRequestBodyBytes, incomplete: .malformedForm))
        try checkFormToken(fields["formToken"], context: context)
        var response = Response.seeOther("/")
        response.setCookie(expired(SessionCookies.sessionCookieName, path: "/"))
        return response
    }

    // MARK: A guest's own reservations

    /// `GET /my`: the signed-in guest's bookings, from the database when it answers, else this node's.
    private func mine(context: CafeRequestContext) async throws -> Response {
        guard let user = context.visitor.user else { throw WebError.signInRequired }
        let reservations = await desk.reservations(of: user.identity, now: pages.calendar.now())
        return .html(
            pages.myReservations(reservations, viewer: viewer(context), links: configuration.statusLinks),
            headers: .source(reservations.source))
    }

    /// `POST /orders/{digest}/cancel` with `formToken` and an optional `reason`: the guest who booked it, or
    /// staff, cancels an upcoming reservation.
    private func cancel(_ request: Request, context: CafeRequestContext) async throws -> Response {
        let fields = try await FormFields(body: RequestBodyReader.read(request, limit: configuration.maximumRequestBodyBytes, incomplete: .malformedForm))
        try checkFormToken(fields["formToken"], context: context)
        let text = context.parameters.get("digest") ?? ""
        guard let digest = ReservationDigest(text), context.visitor.user != nil else {
            throw WebError.notYourReservation(text)
        }
        _ = try await desk.cancel(
            digest, visitor: context.visitor, reason: fields["reason"] ?? "", policy: policy, logger: context.logger)
        // Back to the status page, which now says it is cancelled (with the private link it was opened with).
        let token = fields["token"].map { "?token=\($0)" } ?? ""
        return .seeOther("/orders/\(digest)\(token)")
    }

    // MARK: Helpers

    /// A post from a signed-in page must carry the session's form token: another site cannot read it.
    private func checkFormToken(_ presented: String?, context: CafeRequestContext) throws(WebError) {
        guard let session = context.visitor.session else { return }
        guard let presented, OperationsRoutes.constantTimeEquals(presented, session.formToken) else {
            throw WebError.crossSiteRequest
        }
    }

    private func viewer(_ context: CafeRequestContext) -> PageViewer {
        PageViewer(context: context, configuration: configuration)
    }

    /// A cookie of ours: `HttpOnly`, `SameSite=Lax` (sent when the provider sends the browser back, not with
    /// another site's posts), `Secure` behind TLS.
    private func cookie(_ name: String, _ value: String, path: String, maxAge: Int) -> Cookie {
        Cookie(
            name: name, value: value, maxAge: maxAge, path: path, secure: configuration.secureCookies, httpOnly: true,
            sameSite: .lax)
    }

    private func expired(_ name: String, path: String) -> Cookie {
        cookie(name, "", path: path, maxAge: 0)
    }
}

extension PageViewer {
    init(context: CafeRequestContext, configuration: WebConfiguration) {
        self.init(
            user: context.visitor.user, formToken: context.visitor.session?.formToken,
            signInAvailable: configuration.signIn != nil && configuration.listener == .public,
            onOperatorListener: configuration.listener == .operator)
    }
}
