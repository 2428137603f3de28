import Orders
import Testing
import TestSupport

@Suite("Reservation event")
struct ReservationEventTests {
    static let appendedAt = "2026-11-29T03:06:17.123Z"

    static func line(_ event: ReservationEvent, offset: UInt64 = 42) -> [UInt8] {
        Fixtures.stamp(event.encodeRecord(), offset: offset, appendedAt: appendedAt)
    }

    @Test("encodes the documented record, byte for byte")
    func goldenRecord() throws {
        let event = ReservationEvent(node: "node-a", reservation: Fixtures.bob)
        let record = String(decoding: event.encodeRecord(), as: UTF8.self)
        #expect(
            record
                == #"{"type":"reservation.accepted","node":"node-a","digest":"2e401f4cba1d2e90f354","name":"Bob","people":2,"datetime":"2020-11-16T20:00","notes":"window seat, café","testFailures":false}"#
        )
        let ticked = try Reservation(
            name: "Ann \"A\" \\ B",
            people: 9999,
            dateTime: LocalDateTime.parse("0001-01-01T00:00"),
            notes: "one\ntwo\u{2028}three 😀",
            testFailures: true
        )
        let tickedRecord = String(
            decoding: ReservationEvent(node: "n\u{1}", reservation: ticked).encodeRecord(),
            as: UTF8.self
        )
        #expect(
            tickedRecord
                == #"{"type":"reservation.accepted","node":"n\u0001","digest":"\#(ticked.digest)","name":"Ann \"A\" \\ B","people":9999,"datetime":"0001-01-01T00:00","notes":"one\ntwo"#
                + "\u{2028}three 😀" + #"","testFailures":true}"#
        )
    }

    @Test("appends records to a shared buffer")
    func appendRecord() {
        let event = ReservationEvent(node: "node-a", reservation: Fixtures.bob)
        var buffer = Array("x".utf8)
        event.appendRecord(to: &buffer)
        #expect(buffer == Array("x".utf8) + event.encodeRecord())
    }

    @Test("decodes a stamped line: offset, time, node, digest, type and reservation")
    func decodesStampedLine() throws {
        let event = ReservationEvent(node: "node-a", reservation: Fixtures.bob)
        let logged = try ReservationEvent.decode(line: Self.line(event))
        #expect(logged.offset == 42)
        #expect(logged.appendedAt.text == Self.appendedAt)
        #expect(logged.appendedAt.millisecondsSinceEpoch == 1_795_921_577_123)
        #expect(logged.type == "reservation.accepted")
        let decoded = try #require(logged.reservationEvent)
        #expect(decoded.node == "node-a")
        #expect(decoded.digest.description == "2e401f4cba1d2e90f354")
        #expect(decoded.reservation == Fixtures.bob)
        #expect(decoded == event)
        #expect(decoded.digestMatchesReservation)
    }

    @Test("round-trips hostile reservations and nodes exactly")
    func hostileRoundTrip() throws {
        var generator = SeededRandom(seed: 42)
        var checked = 0
        var offset: UInt64 = 0
        while checked < 2000 {
            guard let reservation = Fixtures.randomReservation(using: &generator) else { continue }
            let node = HostileText.random(maximumLength: 12, using: &generator)
            let event = ReservationEvent(node: node, reservation: reservation)
            let record = event.encodeRecord()
            // What the log requires of a record.
            #expect(record.first == UInt8(ascii: "{") && record.last == UInt8(ascii: "}"))
            #expect(!record.contains(0x0A) && !record.contains(0x0D))
            let logged = try ReservationEvent.decode(
                line: Fixtures.stamp(record, offset: offset, appendedAt: Self.appendedAt)
            )
            #expect(logged.offset == offset)
            #expect(logged.reservationEvent == event)
            // Equal by bytes, not merely by Unicode equivalence.
            #expect(logged.reservationEvent.map { Array($0.node.utf8) } == Array(node.utf8))
            #expect(logged.reservationEvent.map { Array($0.reservation.notes.utf8) } == Array(reservation.notes.utf8))
            offset = offset &* 31 &+ UInt64(checked) &+ 1
            checked += 1
        }
    }

    @Test("reads any field order, JSON whitespace and escapes, from any byte container")
    func flexibleButValid() throws {
        let line =
            #" {"notes":"","testFailures":true,"datetime":"2020-11-16T20:00","people":2,"name":"B\u006fb","digest":"2e401f4cba1d2e90f354","node":"n","type":"reservation.accepted","appendedAt":"2026-11-29T03:06:17.123Z","offset":18446744073709551615}"#
            + "\n"
        let bytes = Array(line.utf8)
        let logged = try ReservationEvent.decode(line: bytes)
        #expect(logged.offset == UInt64.max)
        #expect(logged.reservationEvent?.reservation.name == "Bob")
        #expect(logged.reservationEvent?.reservation.testFailures == true)
        #expect(logged.reservationEvent?.digestMatchesReservation == false)  // the digest is stored, not recomputed
        #expect(try ReservationEvent.decode(line: bytes[...]) == logged)
        #expect(try bytes.withUnsafeBytes { try ReservationEvent.decode(line: $0) } == logged)
        #expect(try ReservationEvent.decode(line: ("xx" + line).utf8.dropFirst(2)) == logged)
    }

    @Test("reads an event of a type it does not know as such, not as damage")
    func unknownType() throws {
        let line =
            #"{"offset":7,"appendedAt":"2026-11-29T03:06:17.123Z","type":"table.moved","digest":"2e401f4cba1d2e90f354","reason":{"by":"guest","codes":[1,2.5,null,true]}}"#
        let logged = try ReservationEvent.decode(line: Array(line.utf8))
        #expect(logged.offset == 7)
        #expect(logged.kind == .unknown(type: "table.moved"))
        #expect(logged.type == "table.moved")
        #expect(logged.reservationEvent == nil)
    }

    /// A valid line with one field replaced (or, with a nil value, removed).
    static func line(replacing field: String, with value: String?) -> String {
        let fields: [(String, String)] = [
            ("offset", "42"), ("appendedAt", #""2026-11-29T03:06:17.123Z""#), ("type", #""reservation.accepted""#),
            ("node", #""node-a""#), ("digest", #""2e401f4cba1d2e90f354""#), ("name", #""Bob""#), ("people", "2"),
            ("datetime", #""2020-11-16T20:00""#), ("notes", #""window seat, café""#), ("testFailures", "false"),
        ]
        precondition(fields.contains { $0.0 == field } || value != nil)
        var parts = fields.compactMap { name, original in
            name == field ? value.map { #""\#(name)":\#($0)"# } : #""\#(name)":\#(original)"#
        }
        if !fields.contains(where: { $0.0 == field }), let value { parts.append(#""\#(field)":\#(value)"#) }
        return "{" + parts.joined(separator: ",") + "}"
    }

    @Test("the valid line the refusal table starts from decodes")
    func baseLine() throws {
        let logged = try ReservationEvent.decode(line: Array(Self.line(replacing: "offset", with: "42").utf8))
        #expect(logged.reservationEvent == ReservationEvent(node: "node-a", reservation: Fixtures.bob))
    }

    static let refusals: [(field: String, value: String?, reason: String)] = [
        ("offset", nil, #"missing field "offset""#),
        ("offset", "-1", #"field "offset": must be a non-negative integer"#),
        ("offset", "1.5", #"field "offset": must be a non-negative integer"#),
        ("offset", "18446744073709551616", #"field "offset": must be a non-negative integer"#),
        ("offset", #""42""#, #"field "offset": must be a non-negative integer"#),
        ("appendedAt", nil, #"missing field "appendedAt""#),
        (
            "appendedAt", #""2026-11-29T03:06:17Z""#,
            #"field "appendedAt": must be a UTC time like 2026-11-29T03:06:17.123Z"#
        ),
        (
            "appendedAt", #""2026-11-29T03:06:17.123+00:00""#,
            #"field "appendedAt": must be a UTC time like 2026-11-29T03:06:17.123Z"#
        ),
        (
            "appendedAt", #""2026-02-29T03:06:17.123Z""#,
            #"field "appendedAt": must be a UTC time like 2026-11-29T03:06:17.123Z"#
        ),
        (
            "appendedAt", #""2026-11-29T03:06:60.000Z""#,
            #"field "appendedAt": must be a UTC time like 2026-11-29T03:06:17.123Z"#
        ),
        ("appendedAt", "1795921577123", #"field "appendedAt": must be a string"#),
        ("type", nil, #"missing field "type""#),
        ("type", "1", #"field "type": must be a string"#),
        ("node", nil, #"missing field "node""#),
        ("node", "null", #"field "node": must be a string"#),
        ("digest", #""2E401F4CBA1D2E90F354""#, #"field "digest": must be 20 lowercase hexadecimal digits"#),
        ("digest", #""2e401f4cba1d2e90f35""#, #"field "digest": must be 20 lowercase hexadecimal digits"#),
        ("name", #""""#, #"field "name": Please tell us the name for the booking."#),
        ("name", #""Bob ""#, #"field "name": has surrounding whitespace or a carriage return"#),
        ("name", #""Bo\nb""#, #"field "name": The name must be a single line without control characters."#),
        (
            "name", "\"" + String(repeating: "x", count: 41) + "\"",
            #"field "name": The name can be at most 40 characters long."#
        ),
        ("people", "0", #"field "people": must be an integer from 1 to 9999"#),
        ("people", "10000", #"field "people": must be an integer from 1 to 9999"#),
        ("people", #""2""#, #"field "people": must be an integer from 1 to 9999"#),
        ("people", "2.0", #"field "people": must be an integer from 1 to 9999"#),
        (
            "datetime", #""2020-11-16T20:00:00""#,
            #"field "datetime": must be a real date and time written YYYY-MM-DDTHH:MM"#
        ),
        (
            "datetime", #""2021-02-29T20:00""#,
            #"field "datetime": must be a real date and time written YYYY-MM-DDTHH:MM"#
        ),
        ("notes", nil, #"missing field "notes""#),
        ("notes", "null", #"field "notes": must be a string"#),
        ("notes", #""a\r\nb""#, #"field "notes": has surrounding whitespace or a carriage return"#),
        ("notes", #""a\tb""#, #"field "notes": Notes cannot contain control characters (line breaks are fine)."#),
        ("testFailures", #""false""#, #"field "testFailures": must be true or false"#),
        ("testFailures", nil, #"missing field "testFailures""#),
        ("source", #""api""#, #"unknown field "source" in a reservation.accepted event"#),
    ]

    @Test("refuses a reservation record that is not exactly right", arguments: refusals)
    func refuses(field: String, value: String?, reason: String) {
        let line = Self.line(replacing: field, with: value)
        #expect {
            try ReservationEvent.decode(line: Array(line.utf8))
        } throws: { error in
            (error as? EventDecodingError)?.reason == reason
        }
    }

    @Test("points at the byte of the problem")
    func positions() throws {
        let line = Self.line(replacing: "people", with: "0")
        let position = try #require(line.utf8.firstRange(of: #""people":0"#.utf8)).lowerBound
        let valueOffset = line.utf8.distance(from: line.utf8.startIndex, to: position) + #""people":"#.utf8.count
        #expect(throws: EventDecodingError.self) { try ReservationEvent.decode(line: Array(line.utf8)) }
        do {
            _ = try ReservationEvent.decode(line: Array(line.utf8))
        } catch {
            #expect(error.byteOffset == valueOffset)
            #expect(
                error.description
                    == #"invalid event record at byte \#(valueOffset): field "people": must be an integer from 1 to 9999"#
            )
        }
    }

    @Test(
        "refuses lines that are not one JSON object",
        arguments: [
            ("", 0, "malformed JSON: expected a JSON object, found the end of the input"),
            (#"{"offset":1}{"offset":2}"#, 12, "malformed JSON: unexpected data after the end of the JSON object"),
            (#"{"offset":1,"offset":2}"#, 12, #"duplicate field "offset""#),
            (
                #"{"offset":1,"appendedAt":"2026-11-29T03:06:17.123Z","type":"x\ud800"}"#, 61,
                #"malformed JSON: lone surrogate in \u escape (a high surrogate without a low one)"#
            ),
            (#"{"offset":1,"#, 12, "malformed JSON: expected a field name in double quotes"),
        ]
    )
    func malformed(line: String, byteOffset: Int, reason: String) {
        do {
            _ = try ReservationEvent.decode(line: Array(line.utf8))
            Issue.record("decoded \(line)")
        } catch {
            #expect(error.byteOffset == byteOffset)
            #expect(error.reason == reason)
        }
    }

    @Test("a truncated line never decodes")
    func truncation() throws {
        let line = Self.line(ReservationEvent(node: "node-a", reservation: Fixtures.bob))
        for length in 0..<line.count {
            #expect(throws: EventDecodingError.self) { try ReservationEvent.decode(line: line[..<length]) }
        }
    }
}

@Suite("Event timestamp")
struct EventTimestampTests {
    @Test(
        "converts between text and milliseconds",
        arguments: [
            ("1970-01-01T00:00:00.000Z", 0 as Int64),
            ("1969-12-31T23:59:59.999Z", -1),
            ("2026-11-29T03:06:17.123Z", 1_795_921_577_123),
            ("2000-02-29T12:00:00.000Z", 951_825_600_000),
            ("0001-01-01T00:00:00.000Z", -62_135_596_800_000),
            ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        ]
    )
    func conversions(text: String, milliseconds: Int64) throws {
        let parsed = try #require(EventTimestamp(text))
        #expect(parsed.millisecondsSinceEpoch == milliseconds)
        #expect(parsed.text == text)
        #expect(EventTimestamp(millisecondsSinceEpoch: milliseconds) == parsed)
    }

    @Test("formats every millisecond it can parse back")
    func randomRoundTrip() throws {
        var generator = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            let milliseconds = Int64.random(in: -62_135_596_800_000...253_402_300_799_999, using: &generator)
            let timestamp = try #require(EventTimestamp(millisecondsSinceEpoch: milliseconds))
            #expect(EventTimestamp(timestamp.text) == timestamp)
        }
        #expect(EventTimestamp(millisecondsSinceEpoch: -62_135_596_800_001) == nil)
        #expect(EventTimestamp(millisecondsSinceEpoch: 253_402_300_800_000) == nil)
    }

    @Test("orders by time")
    func ordering() throws {
        let early = try #require(EventTimestamp("2026-11-29T03:06:17.123Z"))
        let late = try #require(EventTimestamp("2026-11-29T03:06:17.124Z"))
        #expect(early < late)
    }
}
