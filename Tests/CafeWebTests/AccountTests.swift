import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import Identity
import Logging
import NIOCore
import Orders
import Postgres
import Projection
import Testing
import TestSupport

/// Guests, staff and strangers on a real node, signing in through a real OpenID Connect provider
/// (tests/oidc/provider.py in its own process).
@Suite("Sign-in, my reservations, cancelling, the staff's book, and nothing for strangers", .timeLimit(.minutes(5)))
struct AccountTests {
    /// A node configuration that signs people in with `provider`; `groups` containing `staff` makes staff.
    static func configuration(_ provider: OpenIDTestProvider, requireSignIn: Bool = true) throws -> WebConfiguration {
        let keys = try SessionKeys(text: SessionKeys.generateKeyLine())
        let identity = IdentityConfiguration(
            issuer: provider.issuer, clientID: OpenIDTestProvider.clientID,
            clientSecret: OpenIDTestProvider.clientSecret, redirectURL: OpenIDTestProvider.redirectURL,
            staff: StaffPolicy(claim: ("groups", "staff")), requestTimeout: TestTiming.margin(.seconds(30)))
        return WebConfiguration(
            timeZone: TimeZone(identifier: "UTC")!, statusLinks: StatusLinks(keys: keys),
            signIn: SignInService(configuration: identity, keys: keys, logger: testLogger), requireSignIn: requireSignIn)
    }

    static let future = "2031-05-06T19:30"

    @Test("a guest signs in, books, finds it under My reservations, cancels it; booking it again is refused")
    func guestJourney() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider)) { node, client in
                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                let home = try await gina.get("/")
                #expect(home.text.contains("value=\"Gina Guest\""), "the form is prefilled from the name claim")
                #expect(home.text.contains("My reservations") && home.text.contains("Sign out"))

                let booked = try await gina.postForm([
                    ("name", "Gina's table"), ("people", "3"), ("datetime", Self.future), ("notes", "by the window"),
                ])
                #expect(booked.status == .seeOther)
                let location = try #require(booked.headers[.location])
                #expect(location.contains("?token="))
                let digest = try #require(reference(in: location))

                let mine = try await gina.get("/my")
                #expect(mine.status == .ok)
                #expect(mine.text.contains("Gina&#39;s table"))
                #expect(mine.text.contains("Upcoming"))

                // Her own booking opens without the link, with a form to cancel it.
                let page = try await gina.get("/orders/\(digest)")
                #expect(page.status == .ok)
                #expect(page.text.contains("Cancel this reservation"))

                let before = node.storedRecordCount()
                let cancelled = try await gina.postForm(
                    [("reason", "plans changed")], path: "/orders/\(digest)/cancel")
                #expect(cancelled.status == .seeOther)
                #expect(node.storedRecordCount() == before + 1, "one event, durable before the answer")
                let after = try await gina.get("/orders/\(digest)")
                #expect(after.text.contains("Cancelled"))
                #expect(after.text.contains("plans changed"))
                #expect(!after.text.contains("Cancel this reservation"))
                #expect(try await gina.get("/my").text.contains("state cancelled"))

                // The log holds who booked and who cancelled.
                let lines = try logLines(node)
                #expect(lines.contains { $0.contains(#""type":"reservation.accepted.v2""#) && $0.contains(OpenIDTestProvider.guest.subject) })
                #expect(lines.contains { $0.contains(#""type":"reservation.cancelled""#) && $0.contains(#""byRole":"guest""#) && $0.contains("plans changed") })

                // Cancelling again changes nothing; booking exactly the same again is refused: a cancellation is final.
                let twice = try await gina.postForm([("reason", "")], path: "/orders/\(digest)/cancel")
                #expect(twice.status == .seeOther)
                let again = try await gina.postForm([
                    ("name", "Gina's table"), ("people", "3"), ("datetime", Self.future), ("notes", "by the window"),
                ])
                #expect(again.status == .conflict)
                #expect(again.text.contains("cancelled"))
                #expect(node.storedRecordCount() == before + 1)
                // Changing something is a new booking.
                let changed = try await gina.postForm([
                    ("name", "Gina's table"), ("people", "3"), ("datetime", Self.future), ("notes", "booked again"),
                ])
                #expect(changed.status == .seeOther)

                // The API says the same to her session.
                let json = try await gina.get("/api/v1/me/reservations").jsonObject()
                let upcoming = try #require(json["upcoming"] as? [[String: Any]])
                #expect(upcoming.count == 2)
                #expect(upcoming.contains { ($0["cancellation"] as? [String: Any])?["by"] as? String == "guest" })
            }
        }
    }

    @Test("another guest sees and cancels nothing of hers; a stranger is asked to sign in; nothing is stored")
    func othersAndStrangers() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider)) { node, client in
                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                let booked = try await gina.postForm([("name", "Gina"), ("people", "2"), ("datetime", Self.future)])
                let location = try #require(booked.headers[.location])
                let digest = try #require(reference(in: location))
                let stored = node.storedRecordCount()

                let oscar = try await Browser.signIn(client, provider, as: OpenIDTestProvider.otherGuest)
                #expect(try await oscar.get("/orders/\(digest)").status == .notFound)
                #expect(try await oscar.get("/my").text.contains("Gina") == false)
                #expect(try await oscar.postForm([("reason", "x")], path: "/orders/\(digest)/cancel").status == .notFound)
                #expect(try await oscar.get("/reservations").status == .forbidden)
                #expect(try await oscar.get("/api/v1/reservations").status == .forbidden)
                let apiCancel = try await oscar.post("/api/v1/reservations/\(digest)/cancellation", json: "{}")
                #expect(apiCancel.status == .notFound)
                // Even with the private link, another guest cannot cancel: a forwarded link shows, it does not cancel.
                let withLink = try await oscar.get(location)
                #expect(withLink.status == .ok)
                #expect(!withLink.text.contains("Cancel this reservation"))

                // A stranger: the sign-in page and 401s, whatever exists.
                for path in ["/my", "/reservations", "/orders/\(digest)", "/orders/00000000000000000000"] {
                    let page = try await client.get(path)
                    #expect(page.status == .unauthorized, "\(path)")
                    #expect(page.text.contains("href=\"/signin?returnTo="), "\(path)")
                    #expect(!page.text.contains("Gina"), "\(path)")
                }
                for path in ["/api/v1/reservations", "/api/v1/reservations/\(digest)", "/api/v1/me/reservations"] {
                    let answer = try await client.get(path)
                    #expect(answer.status == .unauthorized, "\(path)")
                    #expect(answer.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                }
                #expect(try await client.postJSON("{}", path: "/api/v1/reservations/\(digest)/cancellation").status == .unauthorized)
                #expect(node.storedRecordCount() == stored, "no refusal stored anything")
                #expect(try await gina.get("/orders/\(digest)").text.contains("Cancelled") == false)
            }
        }
    }

    @Test("staff see the book and cancel on a guest's behalf; the event says staff did")
    func staff() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider)) { node, client in
                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                _ = try await gina.postForm([("name", "Gina"), ("people", "2"), ("datetime", Self.future)])
                let sam = try await Browser.signIn(client, provider, as: OpenIDTestProvider.staff)
                let book = try await sam.get("/reservations?from=2031-05-01&days=14")
                #expect(book.status == .ok)
                #expect(book.text.contains("Gina"))
                #expect(book.text.contains("The book"))
                let digest = try #require(book.text.range(of: "/orders/").map { String(book.text[$0.upperBound...].prefix(20)) })
                let page = try await sam.get("/orders/\(digest)")
                #expect(page.text.contains("Cancel on the guest's behalf"))
                #expect(try await sam.postForm([("reason", "kitchen closed")], path: "/orders/\(digest)/cancel").status == .seeOther)
                #expect(try logLines(node).contains { $0.contains(#""byRole":"staff""#) && $0.contains(OpenIDTestProvider.staff.subject) })
                let mine = try await gina.get("/orders/\(digest)").text
                #expect(mine.contains("Cancelled") && mine.contains("by the cafe's staff"))
            }
        }
    }

    @Test("booking needs a signed-in guest when required; cross-site posts and posts without the form token are refused")
    func requiredSignInAndCrossSite() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider)) { node, client in
                let home = try await client.get("/")
                #expect(home.text.contains("Sign in to book"))
                #expect(!home.text.contains("action=\"/order\""))
                let anonymous = try await client.postForm([("name", "Sly"), ("people", "2"), ("datetime", Self.future)])
                #expect(anonymous.status == .unauthorized)
                #expect(try await client.postJSON(#"{"name": "Sly", "people": 2, "datetime": "2031-05-06T19:30"}"#).status == .unauthorized)

                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                let fields = [("name", "Gina"), ("people", "2"), ("datetime", Self.future)]
                #expect(try await gina.postForm(fields, extraHeaders: [.origin: "https://evil.example"]).status == .forbidden)
                #expect(try await gina.postForm(fields, extraHeaders: [.secFetchSite: "cross-site"]).status == .forbidden)
                #expect(try await gina.postForm(fields, formToken: .omitted).status == .forbidden)
                #expect(try await gina.postForm(fields, formToken: .value("wrong")).status == .forbidden)
                #expect(node.storedRecordCount() == 0)
                #expect(try await gina.postForm(fields, extraHeaders: [.secFetchSite: "same-origin"]).status == .seeOther)
                #expect(node.storedRecordCount() == 1)
            }
        }
    }

    @Test("a tampered or another site's cookie is a stranger's; sign-out ends the session")
    func cookies() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider)) { _, client in
                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                #expect(gina.sessionCookieAttributes.contains("HttpOnly"))
                #expect(gina.sessionCookieAttributes.contains("SameSite=Lax"))
                #expect(try await gina.get("/my").status == .ok)
                var tampered = gina
                var characters = Array(gina.session)
                characters[characters.count / 2] = characters[characters.count / 2] == "A" ? "B" : "A"
                tampered.session = String(characters)
                #expect(try await tampered.get("/my").status == .unauthorized)
                let signedOut = try await gina.postForm([], path: "/signout")
                #expect(signedOut.status == .seeOther)
                #expect(signedOut.headers[.location] == "/")
                #expect(signedOut.headers[values: .setCookie].contains { $0.hasPrefix("rananeeti_session=;") && $0.contains("Max-Age=0") })
            }
        }
    }

    @Test("bearer access tokens: staff read the list; a guest only their own; forged or another app's tokens are refused")
    func bearerTokens() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider, requireSignIn: false)) { node, client in
                let made = try await client.postJSON(#"{"name": "Anon", "people": 2, "datetime": "2031-05-06T19:30"}"#)
                let digest = try #require(try made.jsonObject()["digest"] as? String)
                let staff = try await provider.tokens(for: OpenIDTestProvider.staff).accessToken
                let guest = try await provider.tokens(for: OpenIDTestProvider.guest).accessToken
                let list = try await client.get("/api/v1/reservations?from=2031-05-01T00:00", headers: [.authorization: "Bearer \(staff)"])
                #expect(list.status == .ok)
                #expect((try list.jsonObject()["items"] as? [Any])?.count == 1)
                #expect(try await client.get("/api/v1/reservations", headers: [.authorization: "Bearer \(guest)"]).status == .forbidden)
                #expect(try await client.get("/api/v1/reservations/\(digest)", headers: [.authorization: "Bearer \(guest)"]).status == .notFound)
                let booked = try await client.postJSON(
                    #"{"name": "Gina", "people": 4, "datetime": "2031-05-07T19:30"}"#, headers: [.authorization: "Bearer \(guest)"])
                #expect(booked.status == .created)
                let own = try #require(try booked.jsonObject()["digest"] as? String)
                #expect(try await client.get("/api/v1/reservations/\(own)", headers: [.authorization: "Bearer \(guest)"]).status == .ok)
                let cancel = try await client.postJSON(
                    #"{"reason": "ill"}"#, path: "/api/v1/reservations/\(own)/cancellation",
                    headers: [.authorization: "Bearer \(guest)"])
                #expect(cancel.status == .ok)
                #expect((try cancel.jsonObject()["cancellation"] as? [String: Any])?["reason"] as? String == "ill")

                let forged = try await provider.mint(provider.claims(for: OpenIDTestProvider.staff), key: "stranger")
                let otherApp = try await provider.mint(provider.claims(for: OpenIDTestProvider.staff, audience: "other-app"))
                for token in [forged, otherApp, try await provider.mint(provider.claims(for: OpenIDTestProvider.staff), alg: "none"), "garbage"] {
                    let refused = try await client.get("/api/v1/reservations", headers: [.authorization: "Bearer \(token)"])
                    #expect(refused.status == .unauthorized)
                    #expect(refused.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
                }
                _ = node
            }
        }
    }

    @Test("with PostgreSQL stopped: sign-in, booking, My reservations and cancelling work; afterwards each lands once")
    func databaseDown() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await PostgresServer.withServer { server in
                let database = try await TestNode.Database.make(on: server)
                try await TestNode.withLiveServer(configuration: try Self.configuration(provider), database: database) { node, client in
                    let projecting = Task { try await node.projector!.run() }
                    defer { projecting.cancel() }
                    try await server.stop(mode: .immediate)

                    let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                    let booked = try await gina.postForm([("name", "Gina"), ("people", "2"), ("datetime", Self.future)])
                    #expect(booked.status == .seeOther)
                    let digest = try #require(reference(in: booked.headers[.location] ?? ""))
                    let mine = try await gina.get("/my")
                    #expect(mine.headers[.xRananeetiSource] == "local")
                    #expect(mine.text.contains("The database is not answering"))
                    #expect(mine.text.contains("Gina"))
                    #expect(try await gina.postForm([("reason", "during the outage")], path: "/orders/\(digest)/cancel").status == .seeOther)
                    #expect(try await gina.get("/orders/\(digest)").text.contains("Cancelled"))

                    try await server.start()
                    let end = node.book.log.endOffset
                    try await node.projector!.status.wait(timeout: TestTiming.patience) { ($0.checkpoint ?? 0) >= end }
                    let rows = try await PostgresConnection.withConnection(database.connectionString) { connection in
                        (
                            try await connection.query("SELECT count(*) FROM cafe.cancellations WHERE ordrdgst = $1 AND reason = 'during the outage' AND by_role = 'guest'", [digest])[0].decode(Int.self, column: 0),
                            try await connection.query("SELECT guest_subject FROM cafe.reservation_guests WHERE ordrdgst = $1", [digest])[0].decode(String.self, column: 0)
                        )
                    }
                    #expect(rows.0 == 1)
                    #expect(rows.1 == OpenIDTestProvider.guest.subject)
                    #expect(try await node.withOperatorClient { try await $0.get("/metrics") }.text.contains("rananeeti_cancellation_requests_total"))
                }
            }
        }
    }

    @Test("a reservation whose time has passed cannot be cancelled")
    func pastReservation() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try Self.configuration(provider)) { node, client in
                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                let booked = try await gina.postForm([("name", "Gina"), ("people", "2"), ("datetime", "2020-01-01T12:00")])
                let digest = try #require(reference(in: booked.headers[.location] ?? ""))
                let stored = node.storedRecordCount()
                #expect(try await gina.postForm([], path: "/orders/\(digest)/cancel").status == .conflict)
                #expect(node.storedRecordCount() == stored)
                #expect(try await gina.get("/my").text.contains("Past"))
            }
        }
    }
}

/// The reservation reference in a status link (`/orders/DIGEST?token=…`).
func reference(in location: String) -> String? {
    digest(fromLocation: String(location.prefix { $0 != "?" }))
}

/// Every line of the node's log, as text.
func logLines(_ node: TestNode) throws -> [String] {
    let reader = try LogReader(directory: node.directory)
    var lines: [String] = []
    while let records = try reader.nextRecords() {
        lines += records.map { String(decoding: $0.bytes, as: UTF8.self) }
    }
    return lines
}

/// A browser's side of the conversation: its cookies, and the form token of its session's pages.
struct Browser: Sendable {
    let client: any TestClientProtocol
    var session: String
    var sessionCookieAttributes: String
    var formToken: String

    /// Signs `person` in as a browser would: our `/signin`, the provider's login page, our callback.
    static func signIn(
        _ client: any TestClientProtocol, _ provider: OpenIDTestProvider, as person: OpenIDTestProvider.Person
    ) async throws -> Browser {
        let start = try await client.get("/signin?returnTo=/my")
        guard start.status == .seeOther, let redirect = start.headers[.location].flatMap(URL.init(string:)),
            let signInCookie = cookie(SessionCookies.signInCookieName, in: start)
        else { throw TestFailure("/signin did not send the browser to the provider: \(start.status) \(start.text)") }
        let back = try await provider.signIn(at: redirect, as: person)
        let query = back.query ?? ""
        let callback = try await client.get(
            "/signin/callback?\(query)", headers: [.cookie: "\(SessionCookies.signInCookieName)=\(signInCookie.value)"])
        guard callback.status == .seeOther, callback.headers[.location] == "/my",
            let session = cookie(SessionCookies.sessionCookieName, in: callback)
        else { throw TestFailure("the callback did not sign in: \(callback.status) \(callback.text)") }
        var browser = Browser(client: client, session: session.value, sessionCookieAttributes: session.attributes, formToken: "")
        let home = try await browser.get("/")
        guard let range = home.text.range(of: "name=\"formToken\" value=\"") else {
            throw TestFailure("a signed-in page carries no form token")
        }
        browser.formToken = String(home.text[range.upperBound...].prefix { $0 != "\"" })
        return browser
    }

    private static func cookie(_ name: String, in response: TestResponse) -> (value: String, attributes: String)? {
        for header in response.headers[values: .setCookie] where header.hasPrefix(name + "=") {
            let value = header.dropFirst(name.count + 1).prefix { $0 != ";" }
            return (String(value), header)
        }
        return nil
    }

    /// The session cookie, as the browser sends it.
    var cookies: HTTPFields { [.cookie: "\(SessionCookies.sessionCookieName)=\(session)"] }

    private var cookieHeader: HTTPFields { cookies }

    func get(_ path: String) async throws -> TestResponse {
        try await client.get(path, headers: cookieHeader)
    }

    func post(_ path: String, json: String) async throws -> TestResponse {
        try await client.postJSON(json, path: path, headers: cookieHeader)
    }

    /// Which form token a post carries.
    enum FormTokenChoice {
        case session, omitted, value(String)
    }

    /// Posts a form of a signed-in page (with its session's form token, unless told otherwise).
    func postForm(
        _ fields: [(String, String)], path: String = "/order", formToken: FormTokenChoice = .session,
        extraHeaders: HTTPFields = [:]
    ) async throws -> TestResponse {
        let token: String? =
            switch formToken {
            case .session: self.formToken
            case .omitted: nil
            case .value(let chosen): chosen
            }
        var headers = cookieHeader
        headers.append(contentsOf: extraHeaders)
        headers[.contentType] = "application/x-www-form-urlencoded"
        let all = fields + (token.map { [("formToken", $0)] } ?? [])
        return try await client.execute(
            uri: path, method: .post, headers: headers, body: .init(string: FormEncoding.encode(all)))
    }
}

extension HTTPField.Name {
    /// Fetch Metadata: where a browser's request comes from.
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
}
