import Orders
import Testing

@Suite("Reservation from a JSON body")
struct ReservationJSONBodyTests {
    static let example =
        #"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": "window seat", "testFailures": false}"#

    func read(_ body: String) throws(ReservationRequestError) -> Reservation {
        try Reservation(jsonBody: Array(body.utf8))
    }

    /// The field problems of a body that is valid JSON but not a valid reservation.
    func problems(_ body: String) -> [ReservationValidationError.Problem] {
        do {
            let reservation = try read(body)
            Issue.record("accepted \(reservation)")
        } catch .invalid(let error) {
            return error.problems
        } catch {
            Issue.record("expected field problems, got \(error)")
        }
        return []
    }

    @Test("reads the documented example")
    func example() throws {
        let reservation = try read(Self.example)
        #expect(
            reservation == (try Reservation(name: "Bob", people: 2, dateTime: Fixtures.dateTime, notes: "window seat"))
        )
    }

    @Test(
        "notes may be absent, null or empty; testFailures defaults to false",
        arguments: [
            #"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00"}"#,
            #"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": null}"#,
            #"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": "  "}"#,
            "\n\t {\"datetime\":\"2020-11-16T20:00:00\",\"people\":2,\"name\":\" Bob \"} \r\n",
        ]
    )
    func optionalFields(body: String) throws {
        let reservation = try read(body)
        #expect(reservation == (try Reservation(name: "Bob", people: 2, dateTime: Fixtures.dateTime)))
    }

    /// JSON has one kind of number: 2.0 is the number 2, and JSON Schema's `integer` (which the API document
    /// uses) accepts it. Schemathesis found the server refusing such a schema-valid body.
    @Test(
        "people written with a fraction or exponent is read when its value is a whole number",
        arguments: [("2.0", 2), ("2e0", 2), ("200e-2", 2), ("0.02E+2", 2), ("1e2", 100), ("9.999e3", 9999), ("9999.000", 9999)]
    )
    func wholeNumbersWithFractionOrExponent(text: String, people: Int) throws {
        let reservation = try read(#"{"name": "Bob", "people": \#(text), "datetime": "2020-11-16T20:00"}"#)
        #expect(reservation.people == people)
    }

    @Test("decodes every escape, surrogate pairs included")
    func escapes() throws {
        let body =
            #"{"na\u006de": "Zo\u00eb \ud83c\udf82 \"B\\b\" \/", "people": 2, "datetime": "2020-11-16T20:00", "notes": "a\r\nb\nc\u0020d", "testFailures": true}"#
        let reservation = try read(body)
        #expect(reservation.name == "Zoë 🎂 \"B\\b\" /")
        #expect(reservation.notes == "a\nb\nc d")
        // A tab, however it is written, is a control character.
        #expect(
            problems(body.replacing(#"\u0020"#, with: #"\t"#)) == [
                Problem(field: .notes, message: Messages.notesControl)
            ]
        )
        #expect(reservation.testFailures)
    }

    typealias Problem = ReservationValidationError.Problem

    @Test(
        "names the field with the wrong type or value",
        arguments: [
            (#""name": 5"#, Problem(field: .name, message: "name must be a string")),
            (#""name": null"#, Problem(field: .name, message: "name must be a string")),
            (#""name": {"first": "Bob"}"#, Problem(field: .name, message: "name must be a string")),
            (#""name": "Bo\u0000b""#, Problem(field: .name, message: Messages.nameNotOneLine)),
            (#""name": """#, Problem(field: .name, message: Messages.nameMissing)),
            (#""people": "2""#, Problem(field: .people, message: "people must be a number")),
            (#""people": null"#, Problem(field: .people, message: "people must be a number")),
            (#""people": true"#, Problem(field: .people, message: "people must be a number")),
            (#""people": [2]"#, Problem(field: .people, message: "people must be a number")),
            (#""people": 2.5"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 2.05e1"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 1e4"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 0.0"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 1e400"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 1e-400"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 0"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": -0"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": -1"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 10000"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""people": 18446744073709551617"#, Problem(field: .people, message: Messages.peopleInvalid)),
            (#""datetime": 20201116"#, Problem(field: .dateTime, message: "datetime must be a string")),
            (#""datetime": "2020-11-16T20:00:30""#, Problem(field: .dateTime, message: Messages.seconds)),
            (#""notes": 5"#, Problem(field: .notes, message: "notes must be a string or null")),
            (#""notes": false"#, Problem(field: .notes, message: "notes must be a string or null")),
            (#""testFailures": "on""#, Problem(field: .testFailures, message: "testFailures must be true or false")),
            (#""testFailures": null"#, Problem(field: .testFailures, message: "testFailures must be true or false")),
            (#""testFailures": 1"#, Problem(field: .testFailures, message: "testFailures must be true or false")),
        ]
    )
    func wrongValue(field: String, expected: Problem) {
        // The bad field replaces its good counterpart in an otherwise valid body.
        var fields = [
            "name": #""name": "Bob""#, "people": #""people": 2"#, "datetime": #""datetime": "2020-11-16T20:00""#,
        ]
        fields[expected.field.rawValue] = field
        let body = "{" + fields.values.sorted().joined(separator: ", ") + "}"
        #expect(problems(body) == [expected])
    }

    @Test("refuses unknown and repeated fields, and says which")
    func unknownFields() {
        #expect(
            problems(#"{"name": "Bob", "peeple": 2, "datetime": "2020-11-16T20:00"}"#) == [
                Problem(field: .people, message: Messages.peopleMissing),
                Problem(field: ReservationField(rawValue: "peeple"), message: #"unknown field "peeple""#),
            ]
        )
        #expect(
            problems(#"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "name": "Eve"}"#) == [
                Problem(field: .name, message: #"duplicate field "name""#)
            ]
        )
        // A nested value in an unknown field is a field problem, not malformed JSON; the
        // field's name is quoted as JSON so it cannot garble the message.
        #expect(
            problems(#"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "x\"\n": {"a": [1, {}]}}"#) == [
                Problem(field: ReservationField(rawValue: "x\"\n"), message: #"unknown field "x\"\n""#)
            ]
        )
    }

    @Test("an empty object lists the three required fields")
    func emptyObject() {
        #expect(problems("{}").map(\.field) == [.name, .people, .dateTime])
    }

    static let malformedBodies: [(body: String, byteOffset: Int, reason: String)] = [
        ("", 0, "expected a JSON object, found the end of the input"),
        ("   ", 3, "expected a JSON object, found the end of the input"),
        ("[1]", 0, "expected a JSON object starting with '{'"),
        ("{", 1, "expected a field name in double quotes"),
        (#"{'name': 1}"#, 1, "expected a field name in double quotes"),
        (#"{"name": "Bob",}"#, 15, "expected a field name in double quotes"),
        (#"{"name" "Bob"}"#, 8, "expected ':' after a field name"),
        (#"{"name": "Bob" "people": 2}"#, 15, "expected ',' or '}' after a field"),
        (#"{"name": "Bob""#, 14, "expected ',' or '}', found the end of the input"),
        (#"{"name": "Bob}"#, 9, "unterminated string"),
        (#"{"name": "Bob"} x"#, 16, "unexpected data after the end of the JSON object"),
        (#"{"name": "Bob"}{}"#, 15, "unexpected data after the end of the JSON object"),
        (#"{"name": Bob}"#, 9, "expected a value (string, number, true, false, null, object or array)"),
        (#"{"name": "\x"}"#, 10, "invalid escape sequence"),
        (#"{"name": "\u12"}"#, 10, #"expected four hexadecimal digits after \u"#),
        (#"{"name": "\ud800"}"#, 10, #"lone surrogate in \u escape (a high surrogate without a low one)"#),
        (#"{"name": "\ud800\u0041"}"#, 10, #"lone surrogate in \u escape (a high surrogate without a low one)"#),
        (#"{"name": "\udc00"}"#, 10, #"lone surrogate in \u escape (a low surrogate without a high one)"#),
        ("{\"name\": \"Bo\nb\"}", 12, "control character in a string must be escaped"),
        (#"{"people": 01}"#, 11, "numbers cannot have leading zeros"),
        (#"{"people": -}"#, 12, "expected a digit"),
        (#"{"people": 1.}"#, 13, "expected a digit"),
        (#"{"people": 1e}"#, 13, "expected a digit"),
        (#"{"people": +1}"#, 11, "expected a value (string, number, true, false, null, object or array)"),
        (#"{"a": tru}"#, 9, "expected 'true'"),
        (#"{"a": nul"#, 6, "expected 'null'"),
        (#"{"a": [1,]}"#, 9, "expected a value (string, number, true, false, null, object or array)"),
        (#"{"a": {"b" 1}}"#, 11, "expected ':' after a field name"),
        (
            "{\"a\": " + String(repeating: "[", count: 33) + String(repeating: "]", count: 33) + "}", 38,
            "nested deeper than 32 levels"
        ),
    ]

    @Test("malformed JSON is one error with the byte position", arguments: malformedBodies)
    func malformed(body: String, byteOffset: Int, reason: String) {
        expectMalformed(Array(body.utf8), byteOffset: byteOffset, reason: reason)
    }

    func expectMalformed(
        _ body: [UInt8],
        byteOffset: Int,
        reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let reservation = try Reservation(jsonBody: body)
            Issue.record("accepted \(reservation)", sourceLocation: sourceLocation)
        } catch .malformedJSON(let error) {
            #expect(error.byteOffset == byteOffset, sourceLocation: sourceLocation)
            #expect(error.reason == reason, sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected malformed JSON, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test(
        "refuses bytes that are not UTF-8",
        arguments: [
            [0xFF],  // never in UTF-8
            [0xC0, 0xAF],  // overlong "/"
            [0xE0, 0x80, 0xAF],  // overlong "/"
            [0xED, 0xA0, 0x80],  // a surrogate, U+D800
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            [0xE2, 0x82],  // cut short
            [0x80],  // a continuation byte alone
        ] as [[UInt8]]
    )
    func invalidUTF8(sequence: [UInt8]) {
        let body = Array(#"{"name": ""#.utf8) + sequence + Array(#""}"#.utf8)
        expectMalformed(body, byteOffset: 10, reason: "invalid UTF-8")
    }

    @Test("the malformed-JSON message gives the byte")
    func malformedDescription() {
        #expect {
            try read(#"{"name" 1}"#)
        } throws: { error in
            "\(error)" == "malformed JSON at byte 8: expected ':' after a field name"
        }
    }
}

/// The readers skip plain ASCII eight bytes at a time; these put the byte that must stop
/// them at every position relative to those eight-byte steps.
@Suite("Byte-at-every-position scans")
struct ScanAlignmentTests {
    @Test("a raw control character is found wherever it is", arguments: [0x00, 0x01, 0x09, 0x0A, 0x1F] as [UInt8])
    func rawControl(byte: UInt8) {
        for length in 1...24 {
            for position in 0..<length {
                var notes = Array(repeating: UInt8(ascii: "a"), count: length)
                notes[position] = byte
                let body = Array(#"{"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": ""#.utf8)
                let offset = body.count + position
                do {
                    _ = try Reservation(jsonBody: body + notes + Array(#""}"#.utf8))
                    Issue.record("accepted a raw 0x\(String(byte, radix: 16)) at \(position) of \(length)")
                } catch .malformedJSON(let error) {
                    #expect(error.byteOffset == offset)
                } catch {
                    Issue.record("\(error)")
                }
            }
        }
    }

    @Test(
        "a control character in a name or notes is refused wherever it is",
        arguments: ["\u{7F}", "\u{1}", "\t", "\u{1F}", "\u{9F}"]
    )
    func controlInText(control: String) {
        for length in 1...30 {
            for position in 0..<length {
                var scalars = Array(repeating: "a", count: length)
                scalars[position] = control
                let text = "[" + scalars.joined() + "]"
                #expect(throws: ReservationValidationError.self) {
                    try Reservation(name: text, people: 2, dateTime: Fixtures.dateTime)
                }
                #expect(throws: ReservationValidationError.self) {
                    try Reservation(name: "Bob", people: 2, dateTime: Fixtures.dateTime, notes: text)
                }
            }
        }
    }

    @Test("quotes, backslashes, DEL and non-ASCII round-trip wherever they are")
    func specialScalars() throws {
        for special in ["\"", "\\", "\u{7F}", "é", "😀", "\u{2028}"] {
            for length in 1...24 {
                for position in 0..<length {
                    var scalars = Array(repeating: "a", count: length)
                    scalars[position] = special
                    let text = scalars.joined()
                    // DEL is a control character, refused in names and notes; the node
                    // name may hold anything.
                    let guestText = special == "\u{7F}" ? text.replacing("\u{7F}", with: "/") : text
                    // Bracketed, so that trimming (U+2028 is whitespace) keeps every position.
                    let reservation = try Reservation(
                        name: "Bob",
                        people: 2,
                        dateTime: Fixtures.dateTime,
                        notes: "[" + guestText + "]"
                    )
                    let event = ReservationEvent(node: text, reservation: reservation)
                    let line = Fixtures.stamp(event.encodeRecord(), offset: 1, appendedAt: "2026-11-29T03:06:17.123Z")
                    #expect(try ReservationEvent.decode(line: line).reservationEvent == event)
                }
            }
        }
    }
}
