import Foundation
import Identity
import Hummingbird
import HTTPTypes
import Logging
import Projection
import Prometheus

/// What operators and load balancers use: liveness, readiness, metrics, and the fault switch for drills.
///
/// On the public listener only liveness and a bare readiness (for the load balancer's health check); the
/// details, the metrics and the drills are on the operator listener (``Listener``), and the public one
/// answers them 404 like any unknown path.
struct OperationsRoutes: Sendable {
    let book: any ReservationBook
    let configuration: WebConfiguration
    let registry: PrometheusCollectorRegistry

    func register(on router: Router<CafeRequestContext>) {
        router.get("/healthz") { _, _ in Response.json(.object([("status", .string("alive"))])) }
        guard configuration.listener == .operator else {
            router.get("/readyz") { _, _ in await bareReadiness() }
            return
        }
        router.get("/readyz") { _, _ in await readiness() }
        router.get("/metrics") { _, _ in
            Response.bytes(registry.emitToBuffer(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.post("/admin/faults") { request, context in try await injectFault(request, context: context) }
    }

    /// `GET /readyz` on the public listener: the status word only; what is wrong is for operators.
    private func bareReadiness() async -> Response {
        let health = await book.health()
        let status = health.draining ? "draining" : health.isReady ? "ready" : "unready"
        return .json(.object([("status", .string(status))]), status: health.isReady ? .ok : .serviceUnavailable)
    }

    /// `GET /readyz`: ready while the log takes appends and has room, and the node is not being retired. A
    /// database that is down does not make the node unready: taking reservations without it is the point.
    /// `rananeeti drain` reads `intake` and `projection.lagEvents` here to know when nothing is left only on
    /// this node.
    private func readiness() async -> Response {
        let health = await book.health()
        let status = health.draining ? "draining" : health.isReady ? "ready" : "unready"
        let body: JSONValue = .object([
            ("status", .string(status)),
            ("log", .object([
                ("writable", .bool(health.logWritable)),
                ("problem", .optional(health.logProblem ?? (health.logHasRoom ? nil : "the log's disk is nearly full"))),
                ("freeBytes", health.logFreeBytes.map { .integer(Int(clamping: $0)) } ?? .null),
                ("minimumFreeBytes", .integer(Int(clamping: health.logMinimumFreeBytes))),
            ])),
            ("intake", .object([
                ("open", .bool(!health.draining)),
                ("acceptsInFlight", .integer(health.acceptsInFlight)),
            ])),
            ("database", .object([
                ("configured", .bool(health.databaseConfigured)),
                ("reachable", .bool(health.databaseReachable)),
                ("lastError", .optional(health.lastDatabaseError)),
            ])),
            ("projection", .object([
                ("lagEvents", .integer(Int(clamping: health.projectionLagEvents))),
                ("lagSeconds", .number(health.projectionLagSeconds)),
            ])),
        ])
        return .json(body, status: health.isReady ? .ok : .serviceUnavailable)
    }

    /// `POST /admin/faults` with `{"databaseUnreachableSeconds": N}`: makes the database unreachable for N
    /// seconds through ``WebConfiguration/onFault``. Hidden (404) unless an admin token is configured.
    private func injectFault(_ request: Request, context: CafeRequestContext) async throws -> Response {
        guard let token = configuration.adminToken else {
            throw WebError.noSuchEndpoint(method: request.method, path: request.uri.path)
        }
        guard let presented = BearerToken.parse(authorization: request.headers[.authorization]),
            Self.constantTimeEquals(presented, token)
        else {
            context.logger.info("Refused an admin request without the right token")
            throw WebError(
                status: .unauthorized, problem: .unauthorized,
                detail: "Send the administrator's token as Authorization: Bearer TOKEN.",
                headers: [.wwwAuthenticate: "Bearer realm=\"rananeeti-admin\""])
        }
        guard let onFault = configuration.onFault else {
            throw WebError(
                status: .notImplemented, problem: .faultsUnavailable,
                detail: "This node was started without fault injection, so it cannot make its database unreachable.")
        }
        let body = try await RequestBodyReader.read(request, limit: configuration.maximumRequestBodyBytes)
        let maximum = Int(configuration.options.maximumFaultDuration.components.seconds)
        guard (try? JSONSerialization.jsonObject(with: Data(body))) != nil else {
            throw WebError(
                status: .badRequest, problem: .malformedJSON,
                detail: "The body is not JSON. Send {\"databaseUnreachableSeconds\": 30}.")
        }
        struct FaultRequest: Decodable {
            var databaseUnreachableSeconds: Int
        }
        guard let fault = try? JSONDecoder().decode(FaultRequest.self, from: Data(body)),
            (1...maximum).contains(fault.databaseUnreachableSeconds)
        else {
            throw WebError(
                status: .unprocessableContent, problem: .invalidFault,
                detail: "Send {\"databaseUnreachableSeconds\": N} with N a whole number from 1 to \(maximum).")
        }
        context.logger.notice(
            "Making the database unreachable on request",
            metadata: ["fault.seconds": "\(fault.databaseUnreachableSeconds)"])
        await onFault(.seconds(fault.databaseUnreachableSeconds))
        return .json(
            .object([("databaseUnreachableSeconds", .integer(fault.databaseUnreachableSeconds))]), status: .accepted)
    }

    /// Compares a presented secret with the expected one in time that depends only on the presented
    /// length, so that timing reveals nothing about the expected secret's bytes (nor its length).
    static func constantTimeEquals(_ presented: String, _ expected: String) -> Bool {
        let presentedBytes = Array(presented.utf8)
        let expectedBytes = Array(expected.utf8)
        guard !expectedBytes.isEmpty else { return false }
        var difference = UInt(bitPattern: presentedBytes.count ^ expectedBytes.count)
        for index in presentedBytes.indices {
            difference |= UInt(presentedBytes[index] ^ expectedBytes[index % expectedBytes.count])
        }
        return difference == 0
    }
}
