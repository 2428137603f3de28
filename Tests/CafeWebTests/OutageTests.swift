import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import Postgres
import Projection
import Testing
import TestSupport

@Suite("A real database outage, end to end")
struct OutageTests {
    @Test("while PostgreSQL is stopped: posts answer at once as pending, reads are local with the banner; after it starts: confirmed, one row")
    func outageEndToEnd() async throws {
        try await PostgresServer.withServer { server in
            let database = try await TestNode.Database.make(on: server)
            try await TestNode.withLiveServer(database: database) { node, client in
                let projecting = Task { try await node.projector!.run() }
                defer { projecting.cancel() }

                try await server.stop(mode: .immediate)
                let started = ContinuousClock.now
                let form = try await client.postForm([("name", "Outage Olga"), ("people", "4"), ("datetime", "2030-08-01T19:30")])
                #expect(form.status == .seeOther)
                let api = try await client.postJSON(#"{"name": "Outage Oscar", "people": 2, "datetime": "2030-08-01T20:00", "notes": "during the outage"}"#)
                #expect(api.status == .created)
                #expect(started.duration(to: .now) < .seconds(2), "taking reservations does not wait on the database")
                let created = try api.jsonObject()
                #expect(created["state"] as? String == "pending")
                let digest = try #require(created["digest"] as? String)

                let page = try await client.get(try #require(form.headers[.location]))
                #expect(page.headers[.xRananeetiSource] == "local")
                #expect(page.text.contains("Outage Olga"))
                #expect(page.text.contains("pending") || page.text.contains("Pending"))
                let list = try await client.get("/reservations?from=2030-08-01&days=1")
                #expect(list.headers[.xRananeetiSource] == "local")
                #expect(list.text.contains("The database is not answering"))
                #expect(list.text.contains("Outage Oscar"))
                let repeated = try await client.postJSON(#"{"name": "Outage Oscar", "people": 2, "datetime": "2030-08-01T20:00", "notes": "during the outage"}"#)
                #expect(repeated.status == .ok)
                #expect(try repeated.jsonObject()["digest"] as? String == digest)

                try await server.start()
                let end = node.book.log.endOffset
                await node.projector!.status.wait { ($0.checkpoint ?? 0) >= end }
                let after = try await client.get("/api/v1/reservations/\(digest)")
                #expect(try after.jsonObject()["state"] as? String == "confirmed")
                // Reads return to the database once its breaker lets them through again.
                let deadline = ContinuousClock.now + .seconds(10)
                var source = after.headers[.xRananeetiSource]
                while source != "database", ContinuousClock.now < deadline {
                    source = try await client.get("/api/v1/reservations/\(digest)").headers[.xRananeetiSource]
                }
                #expect(source == "database")
                let rows = try await PostgresConnection.withConnection(database.connectionString) { connection in
                    try await connection.query("SELECT count(*) FROM cafe.ordersraw WHERE ordrdgst = $1", [digest])[0].decode(Int.self, column: 0)
                }
                #expect(rows == 1)
            }
        }
    }
}
