import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
import TestSupport

@Suite("docs/openapi.json: served as it is, valid OpenAPI 3.1, and what the server really does", .timeLimit(.minutes(5)))
struct OpenAPITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let documentPath = repository.appendingPathComponent("docs/openapi.json").path

    @Test("the served document is docs/openapi.json, byte for byte")
    func servedDocumentIsTheFile() async throws {
        let file = try Data(contentsOf: URL(fileURLWithPath: Self.documentPath))
        try await TestNode.withLiveServer { _, client in
            let response = try await client.get("/api/v1/openapi.json")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(
                Data(response.body.readableBytesView) == file,
                "the embedded copy is stale: run scripts/embed-openapi")
        }
    }

    @Test("the document is valid OpenAPI 3.1 (openapi-spec-validator)")
    func documentIsValid() throws {
        let output = try runTool("/usr/bin/env", ["python3", "-m", "openapi_spec_validator", Self.documentPath])
        #expect(output.contains("OK"))
    }

    @Test("every status the server answers is documented, and each body and header matches its schema")
    func responsesMatchTheDocument() async throws {
        let recorder = ExchangeRecorder()
        let bob = APITests.bob
        let digest = "2e401f4cba1d2e90f354"

        // A log-only node without sign-in: the API, the website and the operations endpoints, on both listeners.
        try await TestNode.withLiveServer { node, client in
            let api = RecordingClient(client: client, recorder: recorder)
            try await api.post("/api/v1/reservations", bob, template: "/api/v1/reservations")  // 201
            try await api.post("/api/v1/reservations", bob, template: "/api/v1/reservations")  // 200
            let key: HTTPFields = [.xIdempotencyKey: "key-1"]
            let other = #"{"name": "Ann", "people": 3, "datetime": "2030-01-01T12:00", "notes": null, "testFailures": true}"#
            try await api.post("/api/v1/reservations", other, headers: key, template: "/api/v1/reservations")  // 201
            try await api.post("/api/v1/reservations", other, headers: key, template: "/api/v1/reservations")  // replay
            try await api.post("/api/v1/reservations", bob, headers: key, template: "/api/v1/reservations")  // 422
            try await api.post(
                "/api/v1/reservations", bob, headers: [.xIdempotencyKey: "a b"], template: "/api/v1/reservations")  // 400
            try await api.post("/api/v1/reservations", "{", template: "/api/v1/reservations")  // 400
            try await api.post(
                "/api/v1/reservations", #"{"name": 1, "people": 0, "datetime": "x", "extra": true}"#,
                template: "/api/v1/reservations")  // 422
            try await api.post(
                "/api/v1/reservations", String(repeating: " ", count: 17_000) + bob, template: "/api/v1/reservations")  // 413
            try await api.post(
                "/api/v1/reservations", bob, contentType: "text/plain", template: "/api/v1/reservations")  // 415
            try await api.get("/api/v1/reservations?from=2020-11-01T00:00&to=2031-01-01T00:00&limit=1", template: "/api/v1/reservations")
            try await api.get("/api/v1/reservations", template: "/api/v1/reservations")
            try await api.get("/api/v1/reservations?limit=0", template: "/api/v1/reservations")
            try await api.get("/api/v1/reservations/\(digest)", template: "/api/v1/reservations/{digest}")  // 401
            try await api.get(node.apiLink(digest), template: "/api/v1/reservations/{digest}")
            try await api.get(node.apiLink("00000000000000000000"), template: "/api/v1/reservations/{digest}")
            try await api.get("/api/v1/reservations/nope", template: "/api/v1/reservations/{digest}")
            try await api.get("/api/v1/openapi.json", template: "/api/v1/openapi.json")
            try await api.get("/api/v1/problems/log-unavailable", template: "/api/v1/problems/{type}")
            try await api.get("/api/v1/problems/no-such-problem", template: "/api/v1/problems/{type}")

            try await api.get("/", template: "/")
            try await api.postForm([("name", "Cy"), ("people", "2"), ("datetime", "2030-02-02T19:00")], template: "/order")
            try await api.postForm([("name", ""), ("people", "0")], template: "/order")
            try await api.post("/order", "name=%FF", contentType: "application/x-www-form-urlencoded", template: "/order")
            try await api.post(
                "/order", "notes=" + String(repeating: "x", count: 17_000), contentType: "application/x-www-form-urlencoded",
                template: "/order")
            try await api.post("/order", bob, template: "/order")  // 415
            try await api.get("/order", template: "/order")
            try await api.get("/orders/\(digest)", template: "/orders/{digest}")  // 401
            try await api.get(node.statusLink(digest), template: "/orders/{digest}")
            try await api.get(node.statusLink("00000000000000000000"), template: "/orders/{digest}")
            try await api.get("/orders/nope", template: "/orders/{digest}")
            try await api.get("/reservations?from=2030-01-01&days=60", template: "/reservations")
            try await api.get("/reservations?days=1000", template: "/reservations")
            try await api.get("/assets/site.css", template: "/assets/site.css")
            try await api.get("/favicon.svg", template: "/favicon.svg")
            try await api.get("/healthz", template: "/healthz")
            try await api.get("/readyz", template: "/readyz")
            try await api.get("/metrics", template: "/metrics")  // 404 on the public listener
            try await api.post("/admin/faults", #"{"databaseUnreachableSeconds": 5}"#, template: "/admin/faults")  // 404
            try await api.post("/order", "name=Cy", contentType: "application/x-www-form-urlencoded", headers: [.origin: "https://evil.example"], template: "/order")  // 403
            try await node.withOperatorClient { client in
                let operations = RecordingClient(client: client, recorder: recorder)
                try await operations.get("/readyz", template: "/readyz")
                try await operations.get("/metrics", template: "/metrics")
                try await operations.get("/api/v1/reservations", template: "/api/v1/reservations")
                try await operations.get("/api/v1/reservations/\(digest)", template: "/api/v1/reservations/{digest}")
                try await operations.get("/reservations?from=2020-11-01&days=30", template: "/reservations")
                try await operations.post("/admin/faults", #"{"databaseUnreachableSeconds": 5}"#, template: "/admin/faults")  // 404
            }
        }

        // A node where guests sign in, through a real provider.
        try await OpenIDTestProvider.withProvider { provider in
            try await TestNode.withLiveServer(configuration: try AccountTests.configuration(provider)) { _, client in
                let api = RecordingClient(client: client, recorder: recorder)
                try await api.post("/api/v1/reservations", bob, template: "/api/v1/reservations")  // 401
                try await api.postForm([("name", "Cy"), ("people", "2"), ("datetime", "2031-02-02T19:00")], template: "/order")  // 401
                try await api.get("/my", template: "/my")  // 401
                try await api.get("/reservations", template: "/reservations")  // 401
                try await api.get("/api/v1/me/reservations", template: "/api/v1/me/reservations")  // 401
                try await api.get("/signin?returnTo=/my", template: "/signin")  // 303
                try await api.get("/signin/callback?code=x&state=y", template: "/signin/callback")  // 400
                try await api.post("/api/v1/reservations/\(digest)/cancellation", "{}", template: "/api/v1/reservations/{digest}/cancellation")  // 401

                let gina = try await Browser.signIn(client, provider, as: OpenIDTestProvider.guest)
                let signedIn = RecordingClient(client: client, recorder: recorder, headers: gina.cookies)
                let future = #"{"name": "Gina", "people": 2, "datetime": "2031-03-03T19:00"}"#
                try await signedIn.post("/api/v1/reservations", future, template: "/api/v1/reservations")  // 201
                let made = try await gina.post("/api/v1/reservations", json: future)
                let own = try #require(try made.jsonObject()["digest"] as? String)
                try await signedIn.get("/my", template: "/my")
                try await signedIn.get("/api/v1/me/reservations", template: "/api/v1/me/reservations")
                try await signedIn.get("/api/v1/reservations", template: "/api/v1/reservations")  // 403
                try await signedIn.get("/reservations", template: "/reservations")  // 403
                try await signedIn.post("/api/v1/reservations/\(own)/cancellation", #"{"reason": 5}"#, template: "/api/v1/reservations/{digest}/cancellation")  // 422
                try await signedIn.post("/api/v1/reservations/\(own)/cancellation", #"{"reason": "plans changed"}"#, template: "/api/v1/reservations/{digest}/cancellation")  // 200
                try await signedIn.post("/api/v1/reservations/00000000000000000000/cancellation", "{}", template: "/api/v1/reservations/{digest}/cancellation")  // 404
                try await signedIn.post("/api/v1/reservations", future, template: "/api/v1/reservations")  // 409
                let past = try await gina.post("/api/v1/reservations", json: #"{"name": "Gina", "people": 2, "datetime": "2020-03-03T19:00"}"#)
                let pastDigest = try #require(try past.jsonObject()["digest"] as? String)
                try await signedIn.post("/api/v1/reservations/\(pastDigest)/cancellation", "", template: "/api/v1/reservations/{digest}/cancellation")  // 409
                try await signedIn.post("/orders/\(pastDigest)/cancel", "formToken=\(gina.formToken)", contentType: "application/x-www-form-urlencoded", template: "/orders/{digest}/cancel")  // 409
                try await signedIn.post("/order", "name=Gina&people=2&datetime=2031-04-04T19:00&formToken=\(gina.formToken)", contentType: "application/x-www-form-urlencoded", template: "/order")  // 303
                try await signedIn.post("/order", "name=Gina&people=2&datetime=2031-04-04T19:00", contentType: "application/x-www-form-urlencoded", template: "/order")  // 403
                try await signedIn.post("/signout", "formToken=\(gina.formToken)", contentType: "application/x-www-form-urlencoded", template: "/signout")  // 303

                let staffToken = try await provider.tokens(for: OpenIDTestProvider.staff).accessToken
                let staff = RecordingClient(client: client, recorder: recorder, headers: [.authorization: "Bearer \(staffToken)"])
                try await staff.get("/api/v1/reservations?from=2031-01-01T00:00", template: "/api/v1/reservations")
                try await staff.get("/api/v1/reservations/\(own)", template: "/api/v1/reservations/{digest}")
                let forged = RecordingClient(client: client, recorder: recorder, headers: [.authorization: "Bearer not.a.token"])
                try await forged.get("/api/v1/reservations", template: "/api/v1/reservations")  // 401 invalid-token
            }
        }

        // A node with fault injection, on its operator listener.
        var configuration = WebConfiguration(adminToken: "token", timeZone: TimeZone(identifier: "UTC")!)
        configuration.onFault = { _ in }
        try await TestNode.withLiveServer(configuration: configuration) { node, _ in
            try await node.withOperatorClient { client in
                let api = RecordingClient(client: client, recorder: recorder)
                let token: HTTPFields = [.authorization: "Bearer token"]
                let fault = #"{"databaseUnreachableSeconds": 5}"#
                try await api.post("/admin/faults", fault, headers: token, template: "/admin/faults")  // 202
                try await api.post("/admin/faults", fault, template: "/admin/faults")  // 401
                try await api.post("/admin/faults", "{", headers: token, template: "/admin/faults")  // 400
                try await api.post("/admin/faults", #"{"databaseUnreachableSeconds": 0}"#, headers: token, template: "/admin/faults")
                try await api.post(
                    "/admin/faults", String(repeating: " ", count: 17_000), headers: token, template: "/admin/faults")  // 413
            }
        }
        try await TestNode.withLiveServer(configuration: WebConfiguration(adminToken: "token")) { node, _ in
            try await node.withOperatorClient { client in
                let api = RecordingClient(client: client, recorder: recorder)
                try await api.post(
                    "/admin/faults", #"{"databaseUnreachableSeconds": 5}"#, headers: [.authorization: "Bearer token"],
                    template: "/admin/faults")  // 501
            }
        }

        // A node whose log has stopped.
        var logConfiguration = EventLogConfiguration()
        logConfiguration.injectedFaults = InjectedLogFaults(dataSync: { SystemError(code: EIO, operation: "fdatasync") })
        try await TestNode.withLiveServer(logConfiguration: logConfiguration) { _, client in
            let api = RecordingClient(client: client, recorder: recorder)
            try await api.post("/api/v1/reservations", bob, template: "/api/v1/reservations")  // 503
            try await api.postForm([("name", "Di"), ("people", "2"), ("datetime", "2030-02-02T19:00")], template: "/order")
            try await api.get("/readyz", template: "/readyz")  // 503
        }

        let exchanges = recorder.exchanges.withLock { $0 }
        let statuses = Set(exchanges.map { "\($0["method"]!) \($0["path"]!) \($0["status"]!)" })
        for expected in [
            "POST /api/v1/reservations 201", "POST /api/v1/reservations 200", "POST /api/v1/reservations 400",
            "POST /api/v1/reservations 413", "POST /api/v1/reservations 415", "POST /api/v1/reservations 422",
            "POST /api/v1/reservations 503", "GET /api/v1/reservations/{digest} 404", "GET /readyz 503",
            "POST /admin/faults 202", "POST /admin/faults 401", "POST /admin/faults 501", "POST /order 303",
            "POST /order 422", "POST /order 503", "POST /order 401", "POST /order 403", "GET /metrics 404",
            "GET /metrics 200", "GET /api/v1/reservations 401", "GET /api/v1/reservations 403", "GET /api/v1/reservations 200",
            "GET /api/v1/reservations/{digest} 401", "POST /api/v1/reservations 401", "POST /api/v1/reservations 409",
            "POST /api/v1/reservations/{digest}/cancellation 200", "POST /api/v1/reservations/{digest}/cancellation 401",
            "POST /api/v1/reservations/{digest}/cancellation 404", "POST /api/v1/reservations/{digest}/cancellation 409",
            "POST /api/v1/reservations/{digest}/cancellation 422", "GET /api/v1/me/reservations 200",
            "GET /api/v1/me/reservations 401", "GET /my 200", "GET /my 401", "GET /signin 303", "GET /signin/callback 400",
            "POST /signout 303", "POST /orders/{digest}/cancel 409", "GET /reservations 401", "GET /reservations 403",
        ] {
            #expect(statuses.contains(expected), "exercised \(expected)")
        }
        try await withTemporaryDirectory(label: "openapi") { directory in
            let file = directory.appending("exchanges.json")
            try JSONSerialization.data(withJSONObject: exchanges, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: file))
            let checker = Self.repository.appendingPathComponent("tests/openapi/check_responses.py").path
            do {
                let output = try runTool("/usr/bin/env", ["python3", checker, Self.documentPath, file])
                print(output)
            } catch let failure as ToolFailure {
                Issue.record("responses do not match docs/openapi.json:\n\(failure.output)")
            }
        }
    }
}

/// The exchanges of a test, for the checker script.
final class ExchangeRecorder: Sendable {
    let exchanges = Mutex<[[String: any Sendable]]>([])
}

/// A client that records every exchange with the document's path template it belongs to.
struct RecordingClient {
    let client: any TestClientProtocol
    let recorder: ExchangeRecorder
    /// Sent with every request (a session cookie, a bearer token).
    var headers: HTTPFields = [:]

    func get(_ uri: String, template: String) async throws {
        let response = try await client.get(uri, headers: self.headers)
        record("GET", template, response, requestBody: nil, contentType: nil)
    }

    func post(
        _ uri: String, _ body: String, contentType: String = "application/json", headers: HTTPFields = [:],
        template: String
    ) async throws {
        var all = self.headers
        all.append(contentsOf: headers)
        let response = try await client.postJSON(body, path: uri, headers: all, contentType: contentType)
        record("POST", template, response, requestBody: body, contentType: contentType)
    }

    func postForm(_ fields: [(String, String)], template: String) async throws {
        let response = try await client.postForm(fields, headers: self.headers)
        record("POST", template, response, requestBody: nil, contentType: "application/x-www-form-urlencoded")
    }

    private func record(_ method: String, _ template: String, _ response: TestResponse, requestBody: String?, contentType: String?) {
        var headers: [String: String] = [:]
        for field in response.headers { headers[field.name.canonicalName] = field.value }
        var exchange: [String: any Sendable] = [
            "method": method, "path": template, "status": response.status.code, "headers": headers,
            "body": response.text,
        ]
        if let requestBody { exchange["requestBody"] = requestBody }
        if let contentType { exchange["requestContentType"] = contentType }
        recorder.exchanges.withLock { $0.append(exchange) }
    }
}
