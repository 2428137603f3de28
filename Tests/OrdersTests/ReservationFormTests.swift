import Orders
import Testing

/// One row of a validation table: a form, and either the reservation it makes (checked
/// field by field where the row says) or the message expected for one field.
struct FormCase: CustomTestStringConvertible, Sendable {
    var form: ReservationForm
    var problem: (field: ReservationField, message: String)?
    var label: String

    var testDescription: String { label }

    /// A form that is valid except for the fields a row changes.
    static let base = ReservationForm(name: "Bob", people: "2", dateTime: "2020-11-16T20:00")

    static func valid(_ label: String, _ change: (inout ReservationForm) -> Void) -> FormCase {
        var form = base
        change(&form)
        return FormCase(form: form, problem: nil, label: label)
    }

    static func invalid(
        _ label: String,
        _ field: ReservationField,
        _ message: String,
        _ change: (inout ReservationForm) -> Void
    ) -> FormCase {
        var form = base
        change(&form)
        return FormCase(form: form, problem: (field, message), label: label)
    }
}

enum Messages {
    static let nameMissing = "Please tell us the name for the booking."
    static let nameNotOneLine = "The name must be a single line without control characters."
    static let nameTooLong = "The name can be at most 40 characters long."
    static let peopleMissing = "Please tell us how many people are coming."
    static let peopleInvalid = "Party size must be a whole number from 1 to 9999."
    static let dateTimeMissing = "Please choose the date and time of the booking."
    static let dateTimeFormat = "Please give the date and time as YYYY-MM-DDTHH:MM, for example 2020-11-16T20:00."
    static let seconds = "Please choose a time on the minute, without seconds."
    static let notesControl = "Notes cannot contain control characters (line breaks are fine)."
    static let notesTooLong = "Notes can be at most 200 characters long."
}

@Suite("Reservation from a form")
struct ReservationFormTests {
    static let cases: [FormCase] = [
        .valid("the example") { _ in },
        .invalid("no name", .name, Messages.nameMissing) { $0.name = nil },
        .invalid("empty name", .name, Messages.nameMissing) { $0.name = "" },
        .invalid("blank name", .name, Messages.nameMissing) { $0.name = " \t\u{A0}\u{3000} " },
        .valid("40 scalars") { $0.name = String(repeating: "a", count: 40) },
        .invalid("41 scalars", .name, Messages.nameTooLong) { $0.name = String(repeating: "a", count: 41) },
        .valid("40 emoji") { $0.name = String(repeating: "😀", count: 40) },
        .invalid("41 emoji", .name, Messages.nameTooLong) { $0.name = String(repeating: "😀", count: 41) },
        // 21 characters but 42 scalars: PostgreSQL counts the scalars.
        .invalid("21 accented letters in 42 scalars", .name, Messages.nameTooLong) {
            $0.name = String(repeating: "e\u{301}", count: 21)
        },
        .valid("40 scalars after trimming") { $0.name = "  " + String(repeating: "a", count: 40) + "\n" },
        .invalid("line feed in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\nb" },
        .invalid("CRLF in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\r\nb" },
        .invalid("tab in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\tb" },
        .invalid("NUL in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\u{0}b" },
        .invalid("DEL in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\u{7F}b" },
        .invalid("C1 control in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\u{9B}b" },
        .invalid("line separator in name", .name, Messages.nameNotOneLine) { $0.name = "Bo\u{2028}b" },
        .valid("markup in name is only text") { $0.name = "<script>alert(1)</script>" },
        .valid("emoji and non-Latin name") { $0.name = "🎂 Zoë 山田" },
        .invalid("no party size", .people, Messages.peopleMissing) { $0.people = nil },
        .invalid("blank party size", .people, Messages.peopleMissing) { $0.people = "  " },
        .invalid("0 people", .people, Messages.peopleInvalid) { $0.people = "0" },
        .valid("1 person") { $0.people = "1" },
        .valid("9999 people") { $0.people = "9999" },
        .invalid("10000 people", .people, Messages.peopleInvalid) { $0.people = "10000" },
        .invalid("huge party", .people, Messages.peopleInvalid) { $0.people = "99999999999999999999999" },
        .invalid("negative party", .people, Messages.peopleInvalid) { $0.people = "-1" },
        .invalid("plus sign", .people, Messages.peopleInvalid) { $0.people = "+2" },
        .invalid("decimal", .people, Messages.peopleInvalid) { $0.people = "2.0" },
        .invalid("exponent", .people, Messages.peopleInvalid) { $0.people = "1e3" },
        .invalid("words", .people, Messages.peopleInvalid) { $0.people = "two" },
        .invalid("Arabic-Indic digit", .people, Messages.peopleInvalid) { $0.people = "٢" },
        .invalid("no date", .dateTime, Messages.dateTimeMissing) { $0.dateTime = nil },
        .invalid("free text date", .dateTime, Messages.dateTimeFormat) { $0.dateTime = "tomorrow at 8" },
        .invalid("script as date", .dateTime, Messages.dateTimeFormat) { $0.dateTime = "<script>" },
        .valid("datetime-local with :00") { $0.dateTime = "2020-11-16T20:00:00" },
        .invalid("seconds", .dateTime, Messages.seconds) { $0.dateTime = "2020-11-16T20:00:30" },
        .valid("Feb 29 in a leap year") { $0.dateTime = "2024-02-29T12:00" },
        .invalid("Feb 29 in another year", .dateTime, "There is no such date as 2023-02-29.") {
            $0.dateTime = "2023-02-29T12:00"
        },
        .invalid("year 0", .dateTime, "The year must be from 0001 to 9999.") { $0.dateTime = "0000-06-01T12:00" },
        .invalid("24:00", .dateTime, "The time must be from 00:00 to 23:59.") { $0.dateTime = "2020-11-16T24:00" },
        .valid("no notes") { $0.notes = nil },
        .valid("200 scalars of notes") { $0.notes = String(repeating: "x", count: 200) },
        .invalid("201 scalars of notes", .notes, Messages.notesTooLong) {
            $0.notes = String(repeating: "x", count: 201)
        },
        .valid("CRLF counts as one line break") {
            $0.notes = String(repeating: "a", count: 99) + "\r\n" + String(repeating: "b", count: 100)
        },
        .invalid("tab in notes", .notes, Messages.notesControl) { $0.notes = "a\tb" },
        .invalid("NUL in notes", .notes, Messages.notesControl) { $0.notes = "a\u{0}b" },
        .invalid("escape character in notes", .notes, Messages.notesControl) { $0.notes = "a\u{1B}[31mb" },
        .valid("markup and emoji in notes") { $0.notes = "<script>alert('hi')</script> 🎂\nline two" },
    ]

    @Test("validates each field", arguments: cases)
    func validates(row: FormCase) {
        do {
            _ = try Reservation(form: row.form)
            #expect(row.problem == nil, "accepted, expected: \(row.problem?.message ?? "")")
        } catch {
            guard let expected = row.problem else {
                Issue.record("refused: \(error)")
                return
            }
            #expect(error.problems == [.init(field: expected.field, message: expected.message)])
            #expect(error.message(for: expected.field) == expected.message)
        }
    }

    @Test("trims every field and normalises line breaks in notes")
    func cleansText() throws {
        let form = ReservationForm(
            name: "\u{A0} Bob Smith \t",
            people: " 02 ",
            dateTime: " 2020-11-16T20:00:00\n",
            notes: "\r\n  Window seat,\r\nplease.\rThanks!  \n\n",
            testFailures: "on"
        )
        let reservation = try Reservation(form: form)
        #expect(reservation.name == "Bob Smith")
        #expect(reservation.people == 2)
        #expect(reservation.dateTime == Fixtures.dateTime)
        #expect(reservation.notes == "Window seat,\nplease.\nThanks!")
        #expect(reservation.testFailures)
    }

    @Test("a present checkbox is ticked, whatever its value", arguments: [("on", true), ("", true), (nil, false)])
    func checkbox(value: String?, ticked: Bool) throws {
        var form = FormCase.base
        form.testFailures = value
        #expect(try Reservation(form: form).testFailures == ticked)
    }

    @Test("reports every bad field at once, in form order")
    func allProblems() {
        let form = ReservationForm(name: " ", people: "0", dateTime: "soon", notes: "\u{7}")
        #expect {
            try Reservation(form: form)
        } throws: { error in
            let error = error as! ReservationValidationError
            return error.problems.map(\.field) == [.name, .people, .dateTime, .notes]
                && error.description.hasPrefix("name: Please tell us the name")
        }
    }

    @Test("the typed initialiser applies the same rules")
    func typedInitialiser() throws {
        let reservation = try Reservation(name: " Bob ", people: 9999, dateTime: Fixtures.dateTime, notes: "a\r\nb")
        #expect(reservation.name == "Bob" && reservation.notes == "a\nb")
        #expect(throws: ReservationValidationError.self) {
            try Reservation(name: "Bob", people: 10000, dateTime: Fixtures.dateTime)
        }
        #expect(throws: ReservationValidationError.self) {
            try Reservation(name: "Bob", people: 0, dateTime: Fixtures.dateTime)
        }
    }

    @Test("equality is by bytes, as the digest is")
    func equalityByBytes() throws {
        let composed = try Reservation(name: "Zoë", people: 2, dateTime: Fixtures.dateTime)
        let decomposed = try Reservation(name: "Zoe\u{308}", people: 2, dateTime: Fixtures.dateTime)
        #expect(composed.name == decomposed.name)  // Swift calls the strings equal...
        #expect(composed != decomposed)  // ...but they are different bookings
        #expect(composed.digest != decomposed.digest)
        #expect(Set([composed, decomposed, composed]).count == 2)
    }
}

@Suite("Trimming")
struct TrimmingTests {
    @Test("trims exactly the scalars with Unicode's White_Space property")
    func whiteSpaceProperty() throws {
        // Every White_Space scalar is below U+3001; check all of those and a sample above.
        let candidates = Array(0...0x3100) + [0xFEFF, 0x1_F600, 0x10_FFFF] as [UInt32]
        var checked = 0
        for value in candidates {
            let scalar = try #require(Unicode.Scalar(value))
            let isWhitespace = scalar.properties.isWhitespace
            // Controls other than whitespace are refused in names; they are not the point here.
            if scalar.properties.generalCategory == .control && !isWhitespace { continue }
            let name = "a" + String(Character(scalar))
            let reservation = try? Reservation(name: name, people: 1, dateTime: Fixtures.dateTime)
            if isWhitespace {
                #expect(reservation?.name == "a", "U+\(String(value, radix: 16)) should be trimmed")
            } else if scalar != "\u{2028}", scalar != "\u{2029}" {
                #expect(reservation.map { Array($0.name.unicodeScalars) } == [Unicode.Scalar("a"), scalar])
            }
            checked += 1
        }
        #expect(checked > 12_000)
    }
}
