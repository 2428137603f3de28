import CafeWeb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import NIOCore
import Synchronization
import Testing

@Suite("Operations: health, readiness, metrics, request ids, fault injection", .timeLimit(.minutes(5)))
struct OperationsTests {
    @Test("/healthz is 200; /readyz is 200 with database and projection facts while the log is writable")
    func healthAndReadiness() async throws {
        try await TestNode.withLiveServer { node, site in
            let health = try await site.get("/healthz")
            #expect(health.status == .ok)
            #expect(try health.jsonObject()["status"] as? String == "alive")
            // The load balancer's view: the word only.
            let bare = try await site.get("/readyz")
            #expect(bare.status == .ok)
            #expect(try bare.jsonObject().keys.sorted() == ["status"])
            #expect(try bare.jsonObject()["status"] as? String == "ready")

            let ready = try await node.withOperatorClient { try await $0.get("/readyz") }
            #expect(ready.status == .ok)
            let body = try ready.jsonObject()
            #expect(body["status"] as? String == "ready")
            let database = try #require(body["database"] as? [String: Any])
            #expect(database["configured"] as? Bool == false, "log-only: no database, and still ready")
            #expect(database["reachable"] is Bool)
            let projection = try #require(body["projection"] as? [String: Any])
            #expect(projection["lagEvents"] is Int)
            #expect(projection["lagSeconds"] is NSNumber)
        }
    }

    @Test("/metrics: Prometheus text with requests by route and status, accept latency, errors, local reads")
    func metrics() async throws {
        try await TestNode.withLiveServer { node, client in
            _ = try await client.postForm([("name", "Bob"), ("people", "2"), ("datetime", "2030-01-01T12:00")])
            _ = try await client.postJSON(APITests.bob)
            _ = try await client.postJSON("{", contentType: "application/json")
            _ = try await client.get(node.statusLink("00000000000000000000"))
            _ = try await client.get("/no/such/thing/\(UUID())")
            _ = try await node.withOperatorClient { try await $0.get("/reservations") }
            // Not on the public listener, under any spelling of the path.
            for spelling in ["/metrics", "/metrics/", "//metrics", "/%2Fmetrics", "/metrics%2F", "/./metrics", "/x/../metrics"] {
                #expect(try await client.get(spelling).status == .notFound, "\(spelling)")
            }

            let response = try await node.withOperatorClient { try await $0.get("/metrics") }
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = response.text
            #expect(text.contains(#"rananeeti_http_requests_total{route="/order",method="POST",status="303"} 1"#))
            #expect(text.contains(#"rananeeti_http_requests_total{route="/api/v1/reservations",method="POST",status="201"} 1"#))
            #expect(text.contains(#"rananeeti_http_requests_total{route="/api/v1/reservations",method="POST",status="400"} 1"#))
            #expect(text.contains(#"rananeeti_http_requests_total{route="/orders/{digest}",method="GET",status="404"} 1"#))
            #expect(text.contains(#"rananeeti_http_requests_total{route="unmatched",method="GET",status="404"} 8"#), "raw paths never become labels")
            #expect(text.contains("# TYPE rananeeti_accept_duration_seconds histogram"))
            #expect(text.contains(#"rananeeti_accept_duration_seconds_count{channel="form"} 1"#))
            #expect(text.contains(#"rananeeti_accept_duration_seconds_count{channel="api"} 1"#))
            #expect(text.contains(#"rananeeti_http_errors_total{problem="malformed-json"} 1"#))
            #expect(text.contains(#"rananeeti_local_fallback_reads_total{read="list"} 1"#))
            #expect(text.contains(#"rananeeti_reservation_requests_total{channel="api",outcome="accepted"} 1"#))
        }
    }

    @Test("every response carries a request id: the caller's when sane, else a new one")
    func requestIDs() async throws {
        try await TestNode.withLiveServer { _, client in
            let given = try await client.get("/", headers: [.xRequestID: "trace-abc.123"])
            #expect(given.headers[.xRequestID] == "trace-abc.123")
            let hostile = try await client.get("/", headers: [.xRequestID: "<script>alert(1)</script>"])
            let generated = try #require(hostile.headers[.xRequestID])
            #expect(generated != "<script>alert(1)</script>" && !generated.isEmpty)
            let tooLong = try await client.get("/healthz", headers: [.xRequestID: String(repeating: "a", count: 129)])
            #expect(tooLong.headers[.xRequestID]?.count ?? 0 <= 128)
            let first = try #require(try await client.get("/healthz").headers[.xRequestID])
            let second = try #require(try await client.get("/healthz").headers[.xRequestID])
            #expect(first != second)
        }
    }

    @Test("the request id is in the metadata of every log line of the request")
    func requestIDInLogs() async throws {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "web", factory: { _ in handler })
        logger.logLevel = .debug
        try await TestNode.withLiveServer(logger: logger) { _, client in
            _ = try await client.postJSON(APITests.bob, headers: [.xRequestID: "req-42"])
            _ = try await client.get("/no/such/page", headers: [.xRequestID: "req-43"])
        }
        let entries = handler.entries
        let taken = try #require(entries.first { "\($0.message)" == "Reservation taken" })
        #expect(taken.metadata["hb.request.id"] == "req-42")
        #expect(taken.metadata["reservation.digest"] == "2e401f4cba1d2e90f354")
        let line = try #require(entries.first { "\($0.message)" == "POST /api/v1/reservations 201" })
        #expect(line.metadata["hb.request.id"] == "req-42")
        #expect(line.metadata["http.route"] == "/api/v1/reservations")
        #expect(line.metadata["http.status"]?.description == "201")
        #expect(line.metadata["duration_ms"] != nil)
        let missing = try #require(entries.first { "\($0.message)" == "GET /no/such/page 404" })
        #expect(missing.metadata["hb.request.id"] == "req-43")
        #expect(missing.metadata["http.route"] == "unmatched")
    }

    @Test("POST /admin/faults: 404 without a configured token, 401 with none or a wrong one, 202 calls the hook")
    func faultInjection() async throws {
        try await TestNode.withLiveServer { node, _ in
            let hidden = try await node.withOperatorClient {
                try await $0.postJSON(#"{"databaseUnreachableSeconds": 30}"#, path: "/admin/faults")
            }
            try expectProblem(hidden, status: .notFound, type: "no-such-endpoint")
        }

        let calls = Mutex<[Duration]>([])
        var configuration = WebConfiguration(adminToken: "s3cret-token")
        configuration.onFault = { duration in calls.withLock { $0.append(duration) } }
        try await TestNode.withLiveServer(configuration: configuration) { node, site in
            // Never on the public listener, whatever the token.
            let outside = try await site.postJSON(
                #"{"databaseUnreachableSeconds": 30}"#, path: "/admin/faults", headers: [.authorization: "Bearer s3cret-token"])
            #expect(outside.status == .notFound)
            #expect(calls.withLock { $0.isEmpty })
            try await node.withOperatorClient { client in
                let body = #"{"databaseUnreachableSeconds": 30}"#
                let anonymous = try await client.postJSON(body, path: "/admin/faults")
                try expectProblem(anonymous, status: .unauthorized, type: "unauthorized")
                #expect(anonymous.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                for wrong in ["Bearer s3cret-tokex", "Bearer s3cret-token-and-more", "Bearer s3cret", "Basic czNjcmV0LXRva2Vu"] {
                    let response = try await client.postJSON(body, path: "/admin/faults", headers: [.authorization: wrong])
                    #expect(response.status == .unauthorized, "\(wrong)")
                }
                let authorized: HTTPFields = [.authorization: "Bearer s3cret-token"]
                let accepted = try await client.postJSON(body, path: "/admin/faults", headers: authorized)
                #expect(accepted.status == .accepted)
                #expect(try accepted.jsonObject()["databaseUnreachableSeconds"] as? Int == 30)
                #expect(calls.withLock { $0 } == [.seconds(30)])

                let malformed = try await client.postJSON("{", path: "/admin/faults", headers: authorized)
                try expectProblem(malformed, status: .badRequest, type: "malformed-json")
                for invalid in [#"{"databaseUnreachableSeconds": 0}"#, #"{"databaseUnreachableSeconds": "30"}"#, #"{"seconds": 30}"#,
                    #"{"databaseUnreachableSeconds": 999999}"#]
                {
                    let response = try await client.postJSON(invalid, path: "/admin/faults", headers: authorized)
                    try expectProblem(response, status: .unprocessableContent, type: "invalid-fault")
                }
                #expect(calls.withLock { $0.count } == 1)
            }
        }

        try await TestNode.withLiveServer(configuration: WebConfiguration(adminToken: "t")) { node, _ in
            let response = try await node.withOperatorClient {
                try await $0.postJSON(#"{"databaseUnreachableSeconds": 30}"#, path: "/admin/faults", headers: [.authorization: "Bearer t"])
            }
            try expectProblem(response, status: .notImplemented, type: "faults-unavailable")
        }
    }
}
