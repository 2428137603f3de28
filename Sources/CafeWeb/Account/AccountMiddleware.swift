import Hummingbird
import HTTPTypes
import Identity
import Logging

/// Finds out who is asking: the session cookie of a signed-in browser, or, on the API, a bearer access token
/// from the provider. Opening a session needs no database and no provider: the cookie is sealed with the
/// nodes' shared keys. A bearer token is checked against the provider's keys (cached).
struct AccountMiddleware: RouterMiddleware {
    typealias Context = CafeRequestContext

    let signIn: SignInService

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let cookie = request.cookies[SessionCookies.sessionCookieName]?.value {
            context.visitor.session = signIn.session(fromCookie: cookie)
        }
        if request.uri.path.hasPrefix("/api/"), let token = BearerToken.parse(authorization: request.headers[.authorization]) {
            do {
                context.visitor.bearer = try await signIn.user(fromBearerToken: token)
            } catch {
                context.logger.info("Refused a bearer token", metadata: [LogKey.error: "\(error.message)"])
                throw error.code == .providerUnavailable ? WebError.signInUnavailable : WebError.invalidToken
            }
        }
        return try await next(request, context)
    }
}
