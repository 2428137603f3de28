/// A table booking, as the guest asked for it: valid, trimmed and normalised.
///
/// Every `Reservation` has passed the rules below, so code that holds one never checks
/// again:
/// - `name`: 1...40 Unicode scalars (PostgreSQL's `varchar(40)` counts code points), no
///   leading or trailing whitespace, one line, no control characters.
/// - `people`: 1...9999.
/// - `dateTime`: a real date and time to the minute, in the cafe's local time.
/// - `notes`: 0...200 Unicode scalars, no leading or trailing whitespace, line breaks as LF,
///   no other control characters.
///
/// Two reservations are equal when their texts are the same bytes, because the same
/// bytes are what make the same ``digest``. (Swift's `String` equality would also call
/// "é" and "e" + U+0301 equal, and those digest differently.)
public struct Reservation: Sendable {
    /// The name on the booking.
    public let name: String
    /// The party size, 1...9999.
    public let people: Int
    /// When the party arrives, on the cafe's clock.
    public let dateTime: LocalDateTime
    /// The guest's notes, "" when there are none. Lines are separated by LF.
    public let notes: String
    /// Whether the guest ticked "Test database failures", asking the site to demonstrate
    /// how it copes with a failing database.
    public let testFailures: Bool

    /// Creates a reservation from typed values, trimming and normalising the texts first.
    ///
    /// - Parameters:
    ///   - name: the name on the booking; surrounding whitespace is removed.
    ///   - people: the party size, 1...9999.
    ///   - dateTime: when the party arrives.
    ///   - notes: the guest's notes; surrounding whitespace is removed and CRLF or CR
    ///     become LF. Defaults to none.
    ///   - testFailures: the "Test database failures" box. Defaults to false.
    /// - Throws: ``ReservationValidationError`` listing every field that breaks the rules.
    public init(
        name: String,
        people: Int,
        dateTime: LocalDateTime,
        notes: String = "",
        testFailures: Bool = false
    ) throws(ReservationValidationError) {
        var draft = ReservationDraft()
        draft.name = ReservationRules.name(name)
        draft.people = ReservationRules.people(people)
        draft.dateTime = .valid(dateTime)
        draft.notes = ReservationRules.notes(notes)
        draft.testFailures = .valid(testFailures)
        self = try draft.reservation()
    }

    /// Stores values that have already been checked; only ``ReservationDraft`` calls it.
    package init(checkedName name: String, people: Int, dateTime: LocalDateTime, notes: String, testFailures: Bool) {
        self.name = name
        self.people = people
        self.dateTime = dateTime
        self.notes = notes
        self.testFailures = testFailures
    }
}

extension Reservation: Hashable {
    public static func == (lhs: Reservation, rhs: Reservation) -> Bool {
        lhs.people == rhs.people && lhs.dateTime == rhs.dateTime && lhs.testFailures == rhs.testFailures
            && lhs.name.utf8.elementsEqual(rhs.name.utf8) && lhs.notes.utf8.elementsEqual(rhs.notes.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(people)
        hasher.combine(dateTime)
        hasher.combine(testFailures)
        // Hash the bytes, to agree with ==; the counts keep name and notes apart.
        var name = name
        var notes = notes
        hasher.combine(name.utf8.count)
        name.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(notes.utf8.count)
        notes.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
