import Foundation
import Orders
import Projection

/// The API's reservation resource, as `docs/openapi.json` describes it (`Reservation` schema).
enum ReservationJSON {
    /// The resource's JSON.
    ///
    /// - Parameters:
    ///   - token: the reservation's private-link token, for whoever may have it (who booked it); nil leaves it
    ///     out (`null`).
    ///   - showsInternals: whether `lastFailure` is the database's own words (operator listener) or fixed
    ///     wording that names no host.
    static func resource(_ status: ReservationStatus, token: String? = nil, showsInternals: Bool = false) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(512)
        append(status, token: token, showsInternals: showsInternals, to: &output)
        return output
    }

    /// Writes the resource's JSON straight into `output`, members in the order of the schema, strings escaped as
    /// ``JSONValue`` escapes them. Lists are written this way, without a `JSONValue` tree per reservation: a page
    /// of 50 is 20 KB, and building and walking the trees took most of a local read.
    static func append(
        _ status: ReservationStatus, token: String? = nil, showsInternals: Bool = false, to output: inout [UInt8]
    ) {
        let reservation = status.reservation
        output += #"{"digest":""#.utf8
        status.digest.appendHex(to: &output)
        output += #"","state":""#.utf8
        output += status.state.rawValue.utf8
        output += #"","name":"#.utf8
        JSONValue.appendString(reservation.name, to: &output)
        output += #","people":"#.utf8
        output += String(reservation.people).utf8
        output += #","datetime":""#.utf8
        reservation.dateTime.appendText(to: &output)
        output += #"","notes":"#.utf8
        JSONValue.appendString(reservation.notes, to: &output)
        output += reservation.testFailures ? #","testFailures":true,"acceptedAt":"#.utf8 : #","testFailures":false,"acceptedAt":"#.utf8
        appendOptional(status.acceptedAt?.text, to: &output)
        output += #","projectedAt":"#.utf8
        appendOptional(status.projectedAt?.text, to: &output)
        output += #","node":"#.utf8
        appendOptional(status.node, to: &output)
        output += #","failedAttempts":"#.utf8
        output += String(status.failedAttempts).utf8
        output += #","lastFailure":"#.utf8
        appendOptional(status.lastFailure.map { showsInternals ? $0 : SitePages.projectionTroubleForGuests }, to: &output)
        output += #","cancellation":"#.utf8
        if let cancellation = status.cancellation {
            output += #"{"cancelledAt":""#.utf8
            output += cancellation.at.text.utf8
            output += #"","by":""#.utf8
            output += cancellation.role.rawValue.utf8
            output += #"","reason":"#.utf8
            JSONValue.appendString(cancellation.reason, to: &output)
            output += "}".utf8
        } else {
            output += "null".utf8
        }
        output += #","statusToken":"#.utf8
        appendOptional(token, to: &output)
        let query = token.map { "?token=" + $0 } ?? ""
        output += #","links":{"self":"/api/v1/reservations/"#.utf8
        status.digest.appendHex(to: &output)
        output += query.utf8
        output += #"","status":"/orders/"#.utf8
        status.digest.appendHex(to: &output)
        output += query.utf8
        output += #""}}"#.utf8
    }

    /// A string, or `null`.
    static func appendOptional(_ text: String?, to output: inout [UInt8]) {
        if let text { JSONValue.appendString(text, to: &output) } else { output += "null".utf8 }
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
