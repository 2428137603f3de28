import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Projection
import Synchronization
import Testing

@Suite("The JSON API", .timeLimit(.minutes(5)))
struct APITests {
    static let bob = #"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": "window seat, café", "testFailures": false}"#

    @Test("POST: 201 with Location and the resource; the exact repeat: 200 with the same resource")
    func createAndRepeat() async throws {
        try await TestNode.withLiveServer { node, client in
            let created = try await client.postJSON(Self.bob)
            #expect(created.status == .created)
            #expect(created.headers[.location] == node.apiLink("2e401f4cba1d2e90f354"))
            #expect(created.headers[.contentType] == "application/json")
            #expect(created.headers[.xRananeetiSource] == "local")
            let body = try created.jsonObject()
            #expect(body["digest"] as? String == "2e401f4cba1d2e90f354")
            #expect(body["state"] as? String == "pending")
            #expect(body["name"] as? String == "Bob")
            #expect(body["people"] as? Int == 2)
            #expect(body["datetime"] as? String == "2020-11-16T20:00")
            #expect(body["notes"] as? String == "window seat, café")
            #expect(body["testFailures"] as? Bool == false)
            #expect((body["acceptedAt"] as? String)?.hasSuffix("Z") == true)
            let token = try #require(body["statusToken"] as? String)
            let links = try #require(body["links"] as? [String: String])
            #expect(links["self"] == "/api/v1/reservations/2e401f4cba1d2e90f354?token=\(token)")
            #expect(links["status"] == "/orders/2e401f4cba1d2e90f354?token=\(token)")
            #expect(body["cancellation"] is NSNull)
            #expect(node.storedRecordCount() == 1)

            // Whitespace and member order do not make another reservation.
            let repeated = try await client.postJSON(
                #"{"testFailures":false,"notes":"window seat, caf\u00e9","datetime":"2020-11-16T20:00","people":2,"name":"Bob"}"#)
            #expect(repeated.status == .ok)
            #expect(repeated.headers[.location] == node.apiLink("2e401f4cba1d2e90f354"))
            #expect(try repeated.jsonObject()["digest"] as? String == "2e401f4cba1d2e90f354")
            #expect(node.storedRecordCount() == 1)

            // The digest alone opens nothing: it can be computed from what was booked.
            let bare = try await client.get("/api/v1/reservations/2e401f4cba1d2e90f354")
            try expectProblem(bare, status: .unauthorized, type: "sign-in-required")
            #expect(bare.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(bare.headers[.xRananeetiSource] == nil, "nothing is read for a stranger")
            let forged = try await client.get("/api/v1/reservations/2e401f4cba1d2e90f354?token=AAAAAAAAAAAAAAAAAAAAAA")
            try expectProblem(forged, status: .unauthorized, type: "sign-in-required")
            let fetched = try await client.get(try #require(created.headers[.location]))
            #expect(fetched.status == .ok)
            #expect(fetched.headers[.xRananeetiSource] == "local", "a log-only node")
            #expect(try fetched.jsonObject()["name"] as? String == "Bob")
        }
    }

    @Test("errors are RFC 9457 problems: 400 malformed, 413, 415, 422 with errors, 404, 405; nothing stored")
    func problems() async throws {
        try await TestNode.withLiveServer { node, client in
            let malformed = try await client.postJSON(#"{"name": "Bob", "people": 2,"#)
            try expectProblem(malformed, status: .badRequest, type: "malformed-json", instance: "/api/v1/reservations")
            #expect((try malformed.jsonObject()["detail"] as? String)?.contains("at byte") == true)

            let notAnObject = try await client.postJSON(#"["Bob", 2]"#)
            try expectProblem(notAnObject, status: .badRequest, type: "malformed-json")

            let huge = try await client.postJSON(
                #"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": ""#
                    + String(repeating: "x", count: 20_000) + #""}"#)
            try expectProblem(huge, status: .contentTooLarge, type: "body-too-large")

            let form = try await client.postJSON("name=Bob&people=2", contentType: "application/x-www-form-urlencoded")
            try expectProblem(form, status: .unsupportedMediaType, type: "unsupported-media-type")
            #expect(form.headers[HTTPField.Name("Accept-Post")!] == "application/json")
            let noType = try await client.postJSON(Self.bob, contentType: nil)
            try expectProblem(noType, status: .unsupportedMediaType, type: "unsupported-media-type")
            let withCharset = try await client.postJSON(Self.bob, contentType: "Application/JSON; charset=utf-8")
            #expect(withCharset.status == .created)
            #expect(node.storedRecordCount() == 1)

            let invalid = try await client.postJSON(
                #"{"name": "", "people": "2", "datetime": "2021-02-29T19:00", "notes": 7, "testFailures": "yes", "table": 4}"#)
            try expectProblem(invalid, status: .unprocessableContent, type: "invalid-reservation")
            let errors = try #require(try invalid.jsonObject()["errors"] as? [[String: String]])
            #expect(errors.map { $0["field"] } == ["name", "people", "datetime", "notes", "testFailures", "table"])
            #expect(errors.map { $0["pointer"] } == ["#/name", "#/people", "#/datetime", "#/notes", "#/testFailures", "#/table"])
            #expect(errors[0]["detail"] == "Please tell us the name for the booking.")
            #expect(errors[1]["detail"] == "people must be a number")
            #expect(errors[5]["detail"]?.contains("unknown field") == true)

            let tooLong = try await client.postJSON(
                #"{"name": "\#(String(repeating: "n", count: 41))", "people": 10000, "datetime": "2030-01-01T10:00"}"#)
            try expectProblem(tooLong, status: .unprocessableContent, type: "invalid-reservation")

            let unknown = try await client.get(node.apiLink("00000000000000000000"))
            try expectProblem(unknown, status: .notFound, type: "reservation-not-found")
            #expect(unknown.headers[.xRananeetiSource] == "local")
            let badDigest = try await client.get("/api/v1/reservations/xyz")
            try expectProblem(badDigest, status: .badRequest, type: "invalid-digest")
            let nowhere = try await client.get("/api/v1/nothing-here")
            try expectProblem(nowhere, status: .notFound, type: "no-such-endpoint", instance: "/api/v1/nothing-here")
            // A path that exists, asked with a method it does not take: 405 naming the ones it does.
            let wrongMethod = try await client.execute(uri: "/api/v1/reservations", method: .delete)
            try expectProblem(wrongMethod, status: .methodNotAllowed, type: "method-not-allowed")
            #expect(wrongMethod.headers[.allow] == "GET, HEAD, POST")
            let wrongMethodForDigest = try await client.execute(uri: "/api/v1/reservations/00000000000000000000", method: .post)
            #expect(wrongMethodForDigest.status == .methodNotAllowed)
            #expect(wrongMethodForDigest.headers[.allow] == "GET, HEAD")
            let wrongMethodOnSite = try await client.execute(uri: "/orders/00000000000000000000", method: .trace)
            #expect(wrongMethodOnSite.status == .methodNotAllowed)
            #expect(wrongMethodOnSite.headers[.contentType]?.hasPrefix("text/html") == true)

            // Every problem type's URI leads to a page that explains it.
            let explained = try await client.get("/api/v1/problems/invalid-reservation")
            #expect(explained.status == .ok)
            #expect(explained.text.contains("errors"))
            #expect(node.storedRecordCount() == 1)
        }
    }

    @Test("a log that cannot store answers 503 with Retry-After and a clear message, never a 500 with internals")
    func logUnavailable() async throws {
        let failing = Failing()
        var logConfiguration = EventLogConfiguration()
        logConfiguration.injectedFaults = InjectedLogFaults(dataSync: {
            failing.isOn ? SystemError(code: EIO, operation: "fdatasync") : nil
        })
        try await TestNode.withLiveServer(logConfiguration: logConfiguration) { node, client in
            #expect(try await client.get("/readyz").status == .ok)
            failing.isOn = true
            let api = try await client.postJSON(Self.bob)
            try expectProblem(api, status: .serviceUnavailable, type: "log-unavailable")
            #expect(api.headers[.retryAfter] == "30")
            let detail = try api.jsonObject()["detail"] as? String ?? ""
            #expect(detail.contains("try again"))
            #expect(!detail.contains("fdatasync") && !detail.contains(node.directory), "no internals")

            let form = try await client.postForm([("name", "Ann"), ("people", "2"), ("datetime", "2030-01-01T12:00")])
            #expect(form.status == .serviceUnavailable)
            #expect(form.headers[.retryAfter] == "30")
            #expect(form.headers[.contentType] == "text/html; charset=utf-8")
            #expect(form.text.contains("nothing was saved"))
            #expect(!form.text.contains("fdatasync") && !form.text.contains(node.directory))

            let ready = try await client.get("/readyz")
            #expect(ready.status == .serviceUnavailable)
            #expect(try ready.jsonObject()["log"] == nil, "the details are for operators")
            let writable = try await node.withOperatorClient { operations in
                (try await operations.get("/readyz").jsonObject()["log"] as? [String: Any])?["writable"] as? Bool
            }
            #expect(writable == false)
        }
    }

    @Test("Idempotency-Key: same key and body, same answer; same key, other body: 422; bad key: 400")
    func idempotencyKeys() async throws {
        try await TestNode.withLiveServer { node, client in
            let key: HTTPFields = [.xIdempotencyKey: "4f9e7c1a-8b7e-4b1c-9a55-0d1e2f3a4b5c"]
            let first = try await client.postJSON(Self.bob, headers: key)
            #expect(first.status == .created)
            let again = try await client.postJSON(Self.bob, headers: key)
            #expect(again.status == .created, "the first answer, not 200")
            #expect(again.text == first.text)
            #expect(again.headers[.xIdempotentReplayed] == "true")
            #expect(again.headers[.location] == first.headers[.location])
            // Without the key the same body is simply the same reservation again.
            #expect(try await client.postJSON(Self.bob).status == .ok)

            let other = try await client.postJSON(
                #"{"name": "Alice", "people": 3, "datetime": "2020-11-16T20:00"}"#, headers: key)
            try expectProblem(other, status: .unprocessableContent, type: "idempotency-key-reused")
            #expect(node.storedRecordCount() == 2, "the reservation and its key, in one append; nothing for the refusal")

            // A quoted key (the IETF draft's structured-field string) is the same key.
            let quoted = try await client.postJSON(
                Self.bob, headers: [.xIdempotencyKey: "\"4f9e7c1a-8b7e-4b1c-9a55-0d1e2f3a4b5c\""])
            #expect(quoted.status == .created)

            let bad = try await client.postJSON(Self.bob, headers: [.xIdempotencyKey: "has spaces in it"])
            try expectProblem(bad, status: .badRequest, type: "invalid-idempotency-key")
            let tooLong = try await client.postJSON(Self.bob, headers: [.xIdempotencyKey: String(repeating: "k", count: 256)])
            try expectProblem(tooLong, status: .badRequest, type: "invalid-idempotency-key")

            // A new key for a new reservation is fine.
            let fresh = try await client.postJSON(
                #"{"name": "Alice", "people": 3, "datetime": "2020-11-16T20:00"}"#, headers: [.xIdempotencyKey: "k-2"])
            #expect(fresh.status == .created)
            #expect(node.storedRecordCount() == 4)
        }
    }

    @Test("GET list: range, limit, cursor paging to the end, source in body and header, bad queries 400")
    func listPaging() async throws {
        try await TestNode.withLiveServer { node, site in
            var made: [String] = []
            for day in 1...7 {
                let response = try await site.postJSON(
                    #"{"name": "Guest \#(day)", "people": \#(day), "datetime": "2030-06-0\#(day)T19:00"}"#)
                made.append(try #require(try response.jsonObject()["digest"] as? String))
            }
            let digests = made
            // The list is every guest's: staff only on the public listener, open on the operator's.
            try expectProblem(try await site.get("/api/v1/reservations"), status: .unauthorized, type: "sign-in-required")
            try await node.withOperatorClient { client in
                var seen: [String] = []
                var uri = "/api/v1/reservations?from=2030-06-02T00:00&to=2030-06-07T00:00&limit=2"
                for _ in 0..<10 {
                    let response = try await client.get(uri)
                    #expect(response.status == .ok)
                    #expect(response.headers[.xRananeetiSource] == "local")
                    let body = try response.jsonObject()
                    #expect(body["source"] as? String == "local")
                    #expect(body["limit"] as? Int == 2)
                    let items = try #require(body["items"] as? [[String: Any]])
                    seen += items.compactMap { $0["digest"] as? String }
                    guard let next = (body["links"] as? [String: Any])?["next"] as? String else {
                        #expect(body["nextCursor"] is NSNull)
                        break
                    }
                    #expect(next.contains(try #require(body["nextCursor"] as? String)))
                    uri = next
                }
                #expect(seen == Array(digests[1...5]), "2 June up to, not including, 7 June, in date order")

                for bad in ["from=2030-06-01", "to=soon", "limit=0", "limit=501", "limit=two", "cursor=bm90IGEgY3Vyc29y",
                    "from=2030-06-05T00:00&to=2030-06-01T00:00"]
                {
                    let response = try await client.get("/api/v1/reservations?\(bad)")
                    try expectProblem(response, status: .badRequest, type: "invalid-query")
                }
                let defaults = try await client.get("/api/v1/reservations")
                #expect(defaults.status == .ok)
                #expect(try defaults.jsonObject()["limit"] as? Int == 50)
            }
        }
    }
}

/// A switch that tests flip from another task.
final class Failing: Sendable {
    private let value = Mutex(false)
    var isOn: Bool {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// Checks the RFC 9457 members and the media type of a problem answer.
func expectProblem(
    _ response: TestResponse, status: HTTPResponse.Status, type: String, instance: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    let body = try response.jsonObject()
    #expect(body["type"] as? String == "/api/v1/problems/\(type)", sourceLocation: sourceLocation)
    #expect(body["status"] as? Int == status.code, sourceLocation: sourceLocation)
    #expect((body["title"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect((body["detail"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect(body["instance"] is String, sourceLocation: sourceLocation)
    if let instance { #expect(body["instance"] as? String == instance, sourceLocation: sourceLocation) }
    #expect(body["requestId"] as? String == response.headers[.xRequestID], sourceLocation: sourceLocation)
}
