import CafeWeb
import EventLog
import Foundation
import HTTPTypes
import HummingbirdTesting
import Postgres
import Projection
import Testing
import TestSupport

@Suite("A real database outage, end to end", .timeLimit(.minutes(5)))
struct OutageTests {
    @Test("while PostgreSQL is stopped: posts answer at once as pending, reads are local with the banner; after it starts: confirmed, one row")
    func outageEndToEnd() async throws {
        try await PostgresServer.withServer { server in
            let database = try await TestNode.Database.make(on: server)
            try await TestNode.withLiveServer(database: database) { node, client in
                let projecting = Task { try await node.projector!.run() }
                defer { projecting.cancel() }

                try await server.stop(mode: .immediate)
                let form = try await client.postForm([("name", "Outage Olga"), ("people", "4"), ("datetime", "2030-08-01T19:30")])
                #expect(form.status == .seeOther)
                let api = try await client.postJSON(#"{"name": "Outage Oscar", "people": 2, "datetime": "2030-08-01T20:00", "notes": "during the outage"}"#)
                #expect(api.status == .created)
                let created = try api.jsonObject()
                #expect(created["state"] as? String == "pending")
                let digest = try #require(created["digest"] as? String)

                let page = try await client.get(try #require(form.headers[.location]))
                #expect(page.headers[.xRananeetiSource] == "local")
                #expect(page.text.contains("Outage Olga"))
                #expect(page.text.contains("pending") || page.text.contains("Pending"))
                let list = try await node.withOperatorClient { try await $0.get("/reservations?from=2030-08-01&days=1") }
                #expect(list.headers[.xRananeetiSource] == "local")
                #expect(list.text.contains("The database is not answering"))
                #expect(list.text.contains("Outage Oscar"))
                let repeated = try await client.postJSON(#"{"name": "Outage Oscar", "people": 2, "datetime": "2030-08-01T20:00", "notes": "during the outage"}"#)
                #expect(repeated.status == .ok)
                #expect(try repeated.jsonObject()["digest"] as? String == digest)

                try await server.start()
                let end = node.book.log.endOffset
                try await node.projector!.status.wait(timeout: TestTiming.patience) { ($0.checkpoint ?? 0) >= end }
                let after = try await client.get(node.apiLink(digest))
                #expect(try after.jsonObject()["state"] as? String == "confirmed")
                // Reads return to the database once its breaker lets them through again.
                let deadline = ContinuousClock.now + TestTiming.margin(.seconds(10))
                var source = after.headers[.xRananeetiSource]
                while source != "database", ContinuousClock.now < deadline {
                    source = try await client.get(node.apiLink(digest)).headers[.xRananeetiSource]
                }
                #expect(source == "database")
                let rows = try await PostgresConnection.withConnection(database.connectionString) { connection in
                    try await connection.query("SELECT count(*) FROM cafe.ordersraw WHERE ordrdgst = $1", [digest])[0].decode(Int.self, column: 0)
                }
                #expect(rows == 1)
            }
        }
    }

    @Test("taking a reservation never waits on a frozen database, whose calls would hang for their 30 s timeouts")
    func acceptingIgnoresAFrozenDatabase() async throws {
        try await PostgresServer.withServer { server in
            var database = try await TestNode.Database.make(on: server)
            let hang: Duration = .seconds(30)
            database.options = PostgresConnection.Options(connectTimeout: hang, queryTimeout: hang, statementTimeout: hang)
            try await TestNode.withLiveServer(database: database) { node, client in
                let projecting = Task { try await node.projector!.run() }
                defer { projecting.cancel() }
                try server.freeze()
                defer { try? server.thaw() }
                // A post that waited on the database would take the 30 s timeout; a third of it leaves a busy
                // machine plenty of room.
                let allowed = min(TestTiming.margin(.seconds(10)), hang / 3)
                for index in 0..<3 {
                    let started = ContinuousClock.now
                    let made = try await client.postJSON(#"{"name": "Frozen \#(index)", "people": 2, "datetime": "2030-08-02T20:00"}"#)
                    let took = started.duration(to: .now)
                    #expect(made.status == .created)
                    #expect(try made.jsonObject()["state"] as? String == "pending")
                    #expect(took < allowed, "post \(index) took \(took)")
                }
                #expect(node.storedRecordCount() == 3)
            }
        }
    }
}
