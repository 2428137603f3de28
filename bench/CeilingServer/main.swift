// The framework's own ceiling for bench/http/run.sh: a minimal Hummingbird server on the same stack as
// `rananeeti serve` (HTTP/1.1, the same release build), answering what the benchmark asks with fixed bytes and
// no work of its own:
//
//   POST /api/v1/reservations       reads the body, answers 201 with a fixed reservation (as serve does)
//   GET  /api/v1/reservations       a fixed page of 50 reservations (about the size serve sends)
//   GET  /api/v1/reservations/{d}   a fixed reservation
//
//   CeilingServer PORT
//
// What serve achieves is reported as a share of this, measured in the same run on the same cores.
import Glibc
import Hummingbird
import NIOCore

let arguments = CommandLine.arguments
guard arguments.count == 2, let port = Int(arguments[1]) else {
    print("usage: CeilingServer PORT")
    exit(2)
}

let reservation =
    #"{"digest":"2e401f4cba1d2e90f354","state":"pending","name":"Guest 1-1","people":2,"datetime":"2027-02-02T09:15","notes":"load test 1/1","testFailures":false,"acceptedAt":"2026-12-03T12:00:00.000Z","projectedAt":null,"node":"bench","failedAttempts":0,"lastFailure":null,"links":{"self":"/api/v1/reservations/2e401f4cba1d2e90f354","status":"/orders/2e401f4cba1d2e90f354"}}"#
let one = ByteBuffer(string: reservation)
let page = ByteBuffer(
    string: #"{"items":["# + Array(repeating: reservation, count: 50).joined(separator: ",")
        + #"],"source":"local","from":"2027-03-01T00:00","to":"2027-03-08T00:00","limit":50,"nextCursor":null,"links":{"self":"/api/v1/reservations","next":null}}"#)

let router = Router()
router.post("/api/v1/reservations") { request, _ -> Response in
    _ = try await request.body.collect(upTo: 64 * 1024)
    return Response(
        status: .created,
        headers: [.contentType: "application/json", .location: "/api/v1/reservations/2e401f4cba1d2e90f354"],
        body: .init(byteBuffer: one))
}
router.get("/api/v1/reservations") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: page))
}
router.get("/api/v1/reservations/{digest}") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: one))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
