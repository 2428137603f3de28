/// The rules a reservation must meet, one function per field, each returning the clean
/// value or the message for the guest.
///
/// Both entry points (form strings and JSON bodies) and the event decoder go through these
/// functions, so a value is judged the same way whichever door it came in by.
enum ReservationRules {
    /// `ordrname varchar(40)`: PostgreSQL counts code points, so we count Unicode scalars.
    static let nameScalarLimit = 40
    /// `ordrtxt varchar(200)`, counted the same way.
    static let notesScalarLimit = 200
    /// What the old site's form allowed.
    static let peopleRange = 1...9999

    /// The outcome of checking one field.
    enum Check<Value> {
        case valid(Value)
        case invalid(String)
    }

    /// Cleans and checks a name as typed.
    static func name(_ raw: String) -> Check<String> {
        let name = GuestText.trimmed(raw)
        return checkName(name, TextFacts(of: name))
    }

    /// Checks a name that is already clean: trimmed.
    static func checkName(_ name: String, _ facts: TextFacts) -> Check<String> {
        if facts.scalarCount == 0 { return .invalid(Message.nameMissing) }
        if facts.containsLineFeed || facts.containsOtherControl || facts.containsUnicodeLineSeparator {
            return .invalid(Message.nameNotOneLine)
        }
        if facts.scalarCount > nameScalarLimit { return .invalid(Message.nameTooLong) }
        return .valid(name)
    }

    /// Cleans and checks notes as typed.
    static func notes(_ raw: String) -> Check<String> {
        let notes = GuestText.normalizingLineBreaks(GuestText.trimmed(raw))
        return checkNotes(notes, TextFacts(of: notes))
    }

    /// Checks notes that are already clean: trimmed, line breaks as LF.
    static func checkNotes(_ notes: String, _ facts: TextFacts) -> Check<String> {
        if facts.containsOtherControl { return .invalid(Message.notesControl) }
        if facts.scalarCount > notesScalarLimit { return .invalid(Message.notesTooLong) }
        return .valid(notes)
    }

    /// `cafe.cancellations.reason varchar(200)`, counted the same way as notes.
    static let reasonScalarLimit = 200

    /// Cleans and checks the reason a guest or staff member gives for a cancellation: optional, one line.
    static func reason(_ raw: String) -> Check<String> {
        let reason = GuestText.trimmed(raw)
        return checkReason(reason, TextFacts(of: reason))
    }

    /// Checks a reason that is already clean: trimmed.
    static func checkReason(_ reason: String, _ facts: TextFacts) -> Check<String> {
        if facts.containsLineFeed || facts.containsOtherControl || facts.containsUnicodeLineSeparator {
            return .invalid(Message.reasonNotOneLine)
        }
        if facts.scalarCount > reasonScalarLimit { return .invalid(Message.reasonTooLong) }
        return .valid(reason)
    }

    static func people(_ value: Int) -> Check<Int> {
        peopleRange.contains(value) ? .valid(value) : .invalid(Message.peopleInvalid)
    }

    /// Party size as typed into a form: ASCII digits only, so no sign, no decimal point,
    /// no exponent and no thousands separator.
    static func people(text raw: String) -> Check<Int> {
        let text = GuestText.trimmed(raw)
        if text.isEmpty { return .invalid(Message.peopleMissing) }
        guard text.utf8.allSatisfy(ASCII.isDigit) else { return .invalid(Message.peopleInvalid) }
        // More than four significant digits is out of range; stop before Int could overflow.
        let significant = text.utf8.drop { $0 == ASCII.zero }
        guard significant.count <= 4 else { return .invalid(Message.peopleInvalid) }
        return people(significant.reduce(0) { $0 * 10 + Int($1 - ASCII.zero) })
    }

    static func dateTime(text raw: String) -> Check<LocalDateTime> {
        let text = GuestText.trimmed(raw)
        if text.isEmpty { return .invalid(Message.dateTimeMissing) }
        do {
            return .valid(try LocalDateTime.parse(text, allowingZeroSeconds: true))
        } catch {
            return .invalid(Message.dateTime(error, text: text))
        }
    }

    /// The guest-facing messages, in one place so that they read as one voice.
    enum Message {
        static let nameMissing = "Please tell us the name for the booking."
        static let nameNotOneLine = "The name must be a single line without control characters."
        static let nameTooLong = "The name can be at most 40 characters long."
        static let peopleMissing = "Please tell us how many people are coming."
        static let peopleInvalid = "Party size must be a whole number from 1 to 9999."
        static let dateTimeMissing = "Please choose the date and time of the booking."
        static let dateTimeFormat =
            "Please give the date and time as YYYY-MM-DDTHH:MM, for example 2020-11-16T20:00."
        static let notesControl = "Notes cannot contain control characters (line breaks are fine)."
        static let notesTooLong = "Notes can be at most 200 characters long."
        static let reasonNotOneLine = "The reason must be a single line without control characters."
        static let reasonTooLong = "The reason can be at most 200 characters long."

        static func dateTime(_ error: LocalDateTimeError, text: String) -> String {
            switch error {
            case .badFormat:
                dateTimeFormat
            case .yearOutOfRange:
                "The year must be from 0001 to 9999."
            case .noSuchDate:
                // Only the date part, which has passed the format check and so is digits
                // and dashes: safe to echo.
                "There is no such date as \(text.prefix(10))."
            case .noSuchTime:
                "The time must be from 00:00 to 23:59."
            case .secondsNotZero:
                "Please choose a time on the minute, without seconds."
            }
        }

        // For the JSON API, where a field can have the wrong JSON type.
        static let nameNotString = "name must be a string"
        static let peopleNotNumber = "people must be a number"
        static let dateTimeNotString = "datetime must be a string"
        static let notesNotString = "notes must be a string or null"
        static let testFailuresNotBool = "testFailures must be true or false"
    }
}
