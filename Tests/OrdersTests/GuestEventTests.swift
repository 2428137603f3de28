import Foundation
import Orders
import Testing

/// The events that name people: a booking by a signed-in guest, and a cancellation.
@Suite("Events with a guest: reservation.accepted.v2 and reservation.cancelled")
struct GuestEventTests {
    static let gina = GuestIdentity(issuer: "https://id.example", subject: "guest-0001")!
    static let stamp = (offset: UInt64(9), appendedAt: "2026-12-03T10:00:00.000Z")

    @Test("a booking by a signed-in guest is written as reservation.accepted.v2 and read back whole")
    func acceptedWithGuest() throws {
        let event = ReservationEvent(node: "node-a", reservation: Fixtures.bob, guest: Self.gina)
        let record = String(decoding: event.encodeRecord(), as: UTF8.self)
        #expect(record == #"{"type":"reservation.accepted.v2","node":"node-a","digest":"2e401f4cba1d2e90f354","name":"Bob","people":2,"datetime":"2020-11-16T20:00","notes":"window seat, café","testFailures":false,"guestIssuer":"https://id.example","guestSubject":"guest-0001"}"#)
        let logged = try ReservationEvent.decode(line: Fixtures.stamp(event.encodeRecord(), offset: Self.stamp.offset, appendedAt: Self.stamp.appendedAt))
        #expect(logged.reservationEvent == event)
        #expect(logged.type == "reservation.accepted.v2")
        // The same reservation without a guest keeps the old type and shape, and the same digest.
        let anonymous = ReservationEvent(node: "node-a", reservation: Fixtures.bob)
        #expect(anonymous.type == "reservation.accepted")
        #expect(anonymous.digest == event.digest)
        #expect(!String(decoding: anonymous.encodeRecord(), as: UTF8.self).contains("guest"))
    }

    @Test("a cancellation is written with who, in which role and why, and read back whole")
    func cancelled() throws {
        let event = try CancellationEvent(node: "node-b", digest: Fixtures.bob.digest, by: Self.gina, role: .guest, reason: "  plans changed \u{00A0}")
        #expect(event.reason == "plans changed", "the reason is cleaned like a guest's text")
        let record = String(decoding: event.encodeRecord(), as: UTF8.self)
        #expect(record == #"{"type":"reservation.cancelled","node":"node-b","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"guest-0001","byRole":"guest","reason":"plans changed"}"#)
        let logged = try ReservationEvent.decode(line: Fixtures.stamp(event.encodeRecord(), offset: 3, appendedAt: Self.stamp.appendedAt))
        #expect(logged.cancellationEvent == event)
        #expect(logged.reservationEvent == nil)
        let byStaff = try CancellationEvent(node: "n", digest: Fixtures.bob.digest, by: Self.gina, role: .staff, reason: "")
        #expect(try ReservationEvent.decode(line: Fixtures.stamp(byStaff.encodeRecord(), offset: 4, appendedAt: Self.stamp.appendedAt)).cancellationEvent == byStaff)
    }

    @Test("a reason of two lines or over 200 characters is refused before anything is written")
    func badReasons() {
        for reason in ["two\nlines", String(repeating: "x", count: 201), "bell\u{7}"] {
            #expect(throws: ReservationValidationError.self) {
                try CancellationEvent(node: "n", digest: Fixtures.bob.digest, by: Self.gina, role: .guest, reason: reason)
            }
        }
        #expect(throws: Never.self) {
            try CancellationEvent(node: "n", digest: Fixtures.bob.digest, by: Self.gina, role: .guest, reason: String(repeating: "é", count: 200))
        }
    }

    @Test("identities: one clean line of 1 to 255 characters")
    func identities() {
        #expect(GuestIdentity(issuer: "https://id.example", subject: String(repeating: "s", count: 255)) != nil)
        #expect(GuestIdentity(issuer: "https://id.example", subject: String(repeating: "s", count: 256)) == nil)
        #expect(GuestIdentity(issuer: "", subject: "x") == nil)
        #expect(GuestIdentity(issuer: "https://id.example", subject: " padded") == nil)
        #expect(GuestIdentity(issuer: "https://id.example", subject: "two\nlines") == nil)
        #expect(GuestIdentity(issuer: "https://id.example", subject: "nul\u{0}") == nil)
    }

    static let cancelledLine =
        #"{"offset":3,"appendedAt":"2026-12-03T10:00:00.000Z","type":"reservation.cancelled","node":"n","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"guest-0001","byRole":"guest","reason":""}"#

    @Test(
        "lines of the new types that break their rules are damage, with the field and byte",
        arguments: [
            (cancelledLine.replacingOccurrences(of: #""byRole":"guest""#, with: #""byRole":"owner""#), #"field "byRole": must be "guest" or "staff""#),
            (cancelledLine.replacingOccurrences(of: #","reason":"""#, with: ""), #"missing field "reason""#),
            (cancelledLine.replacingOccurrences(of: #""reason":"""#, with: #""reason":"","name":"Bob""#), #"unknown field "name" in a reservation.cancelled event"#),
            (cancelledLine.replacingOccurrences(of: #""bySubject":"guest-0001""#, with: #""bySubject":"""#), #"field "bySubject": must be 1 to 255 characters"#),
            (cancelledLine.replacingOccurrences(of: #""reason":"""#, with: #""reason":"a\nb""#), #"field "reason": The reason must be a single line"#),
            (#"{"offset":1,"appendedAt":"2026-12-03T10:00:00.000Z","type":"reservation.accepted","node":"n","digest":"2e401f4cba1d2e90f354","name":"Bob","people":2,"datetime":"2020-11-16T20:00","notes":"","testFailures":false,"guestIssuer":"https://id.example","guestSubject":"g"}"#,
             #"unknown field "guestIssuer" in a reservation.accepted event"#),
            (#"{"offset":1,"appendedAt":"2026-12-03T10:00:00.000Z","type":"reservation.accepted.v2","node":"n","digest":"2e401f4cba1d2e90f354","name":"Bob","people":2,"datetime":"2020-11-16T20:00","notes":"","testFailures":false,"guestIssuer":"https://id.example"}"#,
             #"missing field "guestSubject""#),
        ])
    func refusals(line: String, reason: String) {
        let error = #expect(throws: EventDecodingError.self) { try ReservationEvent.decode(line: Array(line.utf8)) }
        #expect(error?.reason.hasPrefix(reason) == true, "\(error?.reason ?? "") should start with \(reason)")
    }
}
