import Foundation
import Identity
import Orders
import Projection
import Testing

@testable import CafeWeb

@Suite("CafeWeb internals: escaping, form decoding, cursors, idempotency keys, token comparison", .timeLimit(.minutes(5)))
struct InternalsTests {
    @Test("HTML escapes every interpolated string, in text and in attributes; markup passes through")
    func htmlEscaping() {
        let hostile = #"<script>alert("x")</script> & 'y'"#
        let html: HTML = "<p title=\"\(hostile)\">\(hostile)</p>\(HTML("<br>"))"
        #expect(html.markup == #"<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;</p><br>"#)
        #expect(HTML.escape("Zoë 😀 שלום") == "Zoë 😀 שלום")
    }

    @Test("JSON strings escape quotes, backslashes, control characters and HTML-significant characters")
    func jsonStrings() {
        let value = JSONValue.object([("a", .string("\"\\\n\u{1}<&>é😀")), ("b", .null), ("c", .array([.integer(1), .bool(true)]))])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"a":"\"\\\n\u0001\u003c\u0026\u003eé😀","b":null,"c":[1,true]}"#)
    }

    @Test("a reservation's JSON, written directly, is the resource of the API document with every field intact")
    func reservationJSON() throws {
        let reservation = try Reservation(
            name: #"Zoë "Q" <b>&</b> \ 😀"#, people: 12, dateTime: LocalDateTime("2027-03-04T19:30")!,
            notes: "line one\nline two", testFailures: true)
        for (projectedAt, node, failure) in [(nil, nil, nil), (EventTimestamp(millisecondsSinceEpoch: 1_800_000_000_123), "node-\"a\"", "refused: <x>")] as [(EventTimestamp?, String?, String?)] {
            let status = ReservationStatus(
                digest: reservation.digest, reservation: reservation, state: .duplicate, offset: 7, node: node,
                acceptedAt: EventTimestamp(millisecondsSinceEpoch: 1_799_999_999_000), projectedAt: projectedAt,
                failedAttempts: 3, lastFailure: failure)
            // As an operator sees it: the failure in the database's words.
            let bytes = ReservationJSON.resource(status, showsInternals: true)
            #expect(!bytes.contains(UInt8(ascii: "<")) && !bytes.contains(UInt8(ascii: "&")), "inert when pasted into HTML")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            #expect(object.keys.sorted() == ["acceptedAt", "cancellation", "datetime", "digest", "failedAttempts", "lastFailure", "links", "name", "node", "notes", "people", "projectedAt", "state", "statusToken", "testFailures"])
            #expect(object["cancellation"] is NSNull)
            #expect(object["statusToken"] is NSNull)
            #expect(object["name"] as? String == reservation.name)
            #expect(object["notes"] as? String == reservation.notes)
            #expect(object["people"] as? Int == 12)
            #expect(object["datetime"] as? String == "2027-03-04T19:30")
            #expect(object["state"] as? String == "duplicate")
            #expect(object["testFailures"] as? Bool == true)
            #expect(object["acceptedAt"] as? String == status.acceptedAt?.text)
            #expect((object["projectedAt"] as? String) == projectedAt?.text)
            #expect((object["node"] as? String) == node)
            #expect((object["lastFailure"] as? String) == failure)
            #expect(object["failedAttempts"] as? Int == 3)
            #expect(object["links"] as? [String: String] == ["self": "/api/v1/reservations/\(status.digest)", "status": "/orders/\(status.digest)"])
            // Member order as the schema lists it.
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix(#"{"digest":""#) && text.hasSuffix(#"/orders/\#(status.digest)"}}"#))
            // As a guest sees it: never the database's own words, which can name hosts.
            let guestView = try #require(
                try JSONSerialization.jsonObject(with: Data(ReservationJSON.resource(status))) as? [String: Any])
            #expect((guestView["lastFailure"] as? String) == failure.map { _ in SitePages.projectionTroubleForGuests })
        }
        // Cancelled, with the private token: both in the resource and in its links.
        var cancelled = ReservationStatus(digest: reservation.digest, reservation: reservation, state: .confirmed)
        cancelled.cancellation = ReservationCancellation(
            at: EventTimestamp(millisecondsSinceEpoch: 1_800_000_100_000)!,
            by: GuestIdentity(issuer: "https://id.example", subject: "s")!, role: .staff, reason: "kitchen \"closed\"")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(ReservationJSON.resource(cancelled, token: "tok_en-1"))) as? [String: Any])
        #expect(object["cancellation"] as? [String: String] == ["cancelledAt": "2027-01-15T08:01:40.000Z", "by": "staff", "reason": "kitchen \"closed\""])
        #expect(object["statusToken"] as? String == "tok_en-1")
        #expect(object["links"] as? [String: String] == ["self": "/api/v1/reservations/\(reservation.digest)?token=tok_en-1", "status": "/orders/\(reservation.digest)?token=tok_en-1"])
    }

    @Test("form bodies: +, %XX, a lone %, repeated names, missing values; invalid UTF-8 refused")
    func formFields() throws {
        let fields = try FormFields(body: Array("name=Zo%C3%AB+O%27Brien&people=2&notes=100%&flag&name=second".utf8))
        #expect(fields["name"] == "Zoë O'Brien")
        #expect(fields["people"] == "2")
        #expect(fields["notes"] == "100%")
        #expect(fields["flag"] == "")
        #expect(fields["missing"] == nil)
        #expect(throws: WebError.self) { try FormFields(body: Array("name=%FF".utf8)) }
    }

    @Test("cursors round-trip and anything else is refused")
    func cursors() throws {
        let cursor = ReservationCursor(
            dateTime: try LocalDateTime(year: 2030, month: 6, day: 1, hour: 19, minute: 0),
            digest: ReservationDigest("2e401f4cba1d2e90f354")!)
        let text = CursorText.encode(cursor)
        #expect(CursorText.decode(text) == cursor)
        #expect(text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        for bad in ["", "x", "bm90IGEgY3Vyc29y", String(repeating: "A", count: 200), "v1,2030-06-01T19:00,zz"] {
            #expect(CursorText.decode(bad) == nil, "\(bad)")
        }
    }

    @Test("admin tokens: only the exact token matches")
    func tokens() {
        #expect(OperationsRoutes.constantTimeEquals("secret", "secret"))
        #expect(!OperationsRoutes.constantTimeEquals("secreT", "secret"))
        #expect(!OperationsRoutes.constantTimeEquals("secretsecret", "secret"))
        #expect(!OperationsRoutes.constantTimeEquals("", "secret"))
        #expect(!OperationsRoutes.constantTimeEquals("", ""))
        #expect(BearerToken.parse(authorization: "bearer abc") == "abc")
        #expect(BearerToken.parse(authorization: "Bearer") == nil)
        #expect(BearerToken.parse(authorization: "Basic abc") == nil)
        #expect(BearerToken.parse(authorization: "Bearer  abc \t") == "abc")
        #expect(BearerToken.parse(authorization: "Bearer   ") == nil)
        // SessionFuzzer's first finding was its own property, which had not allowed this: a field value's
        // leading spaces are not part of it (crash-bearer-after-leading-spaces in its corpus).
        #expect(BearerToken.parse(authorization: "   Bearer abc") == "abc")
        #expect(BearerToken.parse(authorization: "\tBearer abc") == "abc")
        #expect(BearerToken.parse(authorization: "Bearer\tabc") == nil)
    }

    @Test("request ids: conservative characters and length only")
    func requestIDs() {
        #expect(RequestIdentifier.sanitized("abc-123_x.y:z") == "abc-123_x.y:z")
        #expect(RequestIdentifier.sanitized("a b") == nil)
        #expect(RequestIdentifier.sanitized("") == nil)
        #expect(RequestIdentifier.sanitized(String(repeating: "a", count: 129)) == nil)
        #expect(RequestIdentifier.sanitized("\r\nX-Injected: 1") == nil)
    }

    @Test("the cafe calendar: days added across months and years, names of days")
    func calendar() throws {
        let calendar = CafeCalendar(timeZone: TimeZone(identifier: "UTC")!)
        let start = try LocalDateTime(year: 2020, month: 12, day: 25, hour: 0, minute: 0)
        #expect(calendar.adding(days: 14, to: start)?.description == "2021-01-08T00:00")
        #expect(calendar.adding(days: 1, to: try LocalDateTime(year: 2024, month: 2, day: 28, hour: 0, minute: 0))?.description == "2024-02-29T00:00")
        #expect(CafeCalendar.longDay(try LocalDateTime(year: 2020, month: 11, day: 16, hour: 20, minute: 0)) == "Monday 16 November 2020")
        #expect(CafeCalendar.parseDay("2020-11-16")?.description == "2020-11-16T00:00")
        #expect(CafeCalendar.parseDay("2020-11-16T00:00") == nil)
        let noon = Date(timeIntervalSince1970: 1_700_000_000)  // 2023-11-14T22:13:20Z
        #expect(calendar.startOfToday(now: noon).description == "2023-11-14T00:00")
        let tokyo = CafeCalendar(timeZone: TimeZone(identifier: "Asia/Tokyo")!)
        #expect(tokyo.startOfToday(now: noon).description == "2023-11-15T00:00")
        #expect(calendar.moment(EventTimestamp("2026-11-29T03:06:17.123Z")!) == "29 Nov 2026, 03:06:17")
    }
}
