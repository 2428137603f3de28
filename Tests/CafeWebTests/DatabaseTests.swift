import CafeWeb
import Foundation
import HTTPTypes
import HummingbirdTesting
import Projection
import Testing

@Suite("With PostgreSQL: the pages follow a reservation into the database, and fall back when it is away", .timeLimit(.minutes(5)))
struct DatabaseTests {
    @Test("pending, then confirmed once projected; reads say database; a fault drill turns them local, with a banner")
    func followsTheReservation() async throws {
        let database = try await TestNode.Database.make()
        var configuration = WebConfiguration(adminToken: "drill-token", timeZone: TimeZone(identifier: "UTC")!)
        configuration.onFault = { duration in database.faults.makeDatabaseUnreachable(for: duration) }
        try await TestNode.withLiveServer(configuration: configuration, database: database) { node, client in
            let made = try await client.postForm([
                ("name", "Bob"), ("people", "2"), ("datetime", "2030-07-01T20:00"), ("notes", "window seat"),
            ])
            let location = try #require(made.headers[.location])

            let pending = try await client.get(location)
            #expect(pending.headers[.xRananeetiSource] == "database")
            #expect(pending.text.contains("pending"))
            #expect(pending.text.contains("http-equiv=\"refresh\""))
            #expect(!pending.text.contains("The database is not answering"))

            try await node.project()
            let confirmed = try await client.get(location)
            #expect(confirmed.headers[.xRananeetiSource] == "database")
            #expect(confirmed.text.contains("Confirmed"))
            #expect(confirmed.text.contains("Written into the cafe&#39;s reservation book"))
            #expect(!confirmed.text.contains("http-equiv=\"refresh\""), "a final state stops refreshing")

            let list = try await node.withOperatorClient { try await $0.get("/reservations?from=2030-07-01&days=1") }
            #expect(list.headers[.xRananeetiSource] == "database")
            #expect(list.text.contains("Bob"))
            #expect(!list.text.contains("The database is not answering"))
            let api = try await client.get("/api/v1" + location.replacingOccurrences(of: "/orders/", with: "/reservations/"))
            #expect(api.headers[.xRananeetiSource] == "database")
            #expect(try api.jsonObject()["state"] as? String == "confirmed")
            #expect((try api.jsonObject()["projectedAt"] as? String)?.hasSuffix("Z") == true)

            let ready = try await node.withOperatorClient { try await $0.get("/readyz") }
            let readiness = try ready.jsonObject()
            let facts = try #require(readiness["database"] as? [String: Any])
            #expect(facts["configured"] as? Bool == true)
            #expect(facts["reachable"] as? Bool == true)

            // The drill: the database is "unreachable" for a minute.
            let drill = try await node.withOperatorClient {
                try await $0.postJSON(
                    #"{"databaseUnreachableSeconds": 60}"#, path: "/admin/faults",
                    headers: [.authorization: "Bearer drill-token"])
            }
            #expect(drill.status == .accepted)
            let fallback = try await node.withOperatorClient { try await $0.get("/reservations?from=2030-07-01&days=1") }
            #expect(fallback.headers[.xRananeetiSource] == "local")
            #expect(fallback.text.contains("The database is not answering; showing the reservations this node holds. Others may be missing."))
            #expect(fallback.text.contains("Bob"), "this node still holds its own")
            // Reservations are still taken while the database is away, and the node stays ready.
            let during = try await client.postJSON(#"{"name": "Ann", "people": 3, "datetime": "2030-07-01T21:00"}"#)
            #expect(during.status == .created)
            #expect(try await client.get("/readyz").status == .ok)
            database.faults.makeDatabaseUnreachable(for: .zero)
        }
    }
}
