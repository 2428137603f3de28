import Foundation
import Orders
import Projection

/// The API's reservation resource, as `docs/openapi.json` describes it (`Reservation` schema).
enum ReservationJSON {
    static func resource(_ status: ReservationStatus) -> JSONValue {
        let reservation = status.reservation
        let digest = status.digest.description
        return .object([
            ("digest", .string(digest)),
            ("state", .string(status.state.rawValue)),
            ("name", .string(reservation.name)),
            ("people", .integer(reservation.people)),
            ("datetime", .string(reservation.dateTime.description)),
            ("notes", .string(reservation.notes)),
            ("testFailures", .bool(reservation.testFailures)),
            ("acceptedAt", .optional(status.acceptedAt?.text)),
            ("projectedAt", .optional(status.projectedAt?.text)),
            ("node", .optional(status.node)),
            ("failedAttempts", .integer(status.failedAttempts)),
            ("lastFailure", .optional(status.lastFailure)),
            ("links", .object([("self", .string(path(of: status.digest))), ("status", .string("/orders/\(digest)"))])),
        ])
    }

    /// The API path of one reservation, also its `Location`.
    static func path(of digest: ReservationDigest) -> String {
        "/api/v1/reservations/\(digest)"
    }

    /// The `errors` extension member of a `invalid-reservation` problem: one entry per field problem.
    static func errors(_ error: ReservationValidationError) -> JSONValue {
        .array(
            error.problems.map { problem in
                .object([
                    ("field", .string(problem.field.rawValue)),
                    ("pointer", .string("#/" + jsonPointerEscaped(problem.field.rawValue))),
                    ("detail", .string(problem.message)),
                ])
            })
    }

    /// RFC 6901: `~` as `~0`, `/` as `~1`.
    private static func jsonPointerEscaped(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
